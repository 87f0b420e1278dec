import { Injectable } from '@nestjs/common';
import { AppConfig } from '@lib/config';
import { ChangeFeed, FeedCache, RequestContext } from '@lib/tenancy';
import type { RoleRecord } from './role.types';
import { RolesRepository } from './roles.repository';

/** The union of the permissions of `roleIds` (ids of roles that no longer exist grant nothing). */
export function permissionsOf(roles: ReadonlyMap<string, RoleRecord>, roleIds: readonly string[]): Set<string> {
  const permissions = new Set<string>();
  for (const id of roleIds) for (const p of roles.get(id)?.permissions ?? []) permissions.add(p);
  return permissions;
}

/**
 * Roles per tenant (permissions are resolved on every request from the caller's role ids), cached until the
 * change feed names the tenant's roles: at once on this instance, within the revocation bound on the others.
 */
@Injectable()
export class RolesCache {
  private readonly cache: FeedCache<Map<string, RoleRecord>>;

  constructor(
    private readonly repository: RolesRepository,
    config: AppConfig,
    feed: ChangeFeed,
  ) {
    this.cache = new FeedCache({
      max: config.caches.roles,
      lifetimeMs: config.caches.lifetimeMs,
      freshness: feed,
      load: async () => new Map((await this.repository.listConsistent()).map((r) => [r.id, r])),
    });
    feed.subscribe('roles', ({ tenantId }) => tenantId && this.cache.delete(tenantId));
  }

  /** The current tenant's roles by id (from the request context). */
  async roles(): Promise<Map<string, RoleRecord>> {
    return (await this.cache.get(RequestContext.tenant().id)) ?? new Map();
  }

  async permissionsOf(roleIds: readonly string[]): Promise<Set<string>> {
    return permissionsOf(await this.roles(), roleIds);
  }

  invalidate(): void {
    this.cache.delete(RequestContext.tenant().id);
  }
}
