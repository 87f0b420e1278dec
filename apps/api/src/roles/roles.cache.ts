import { Injectable } from '@nestjs/common';
import { CACHE_MAX_STALE_MS, RefreshingCache, RequestContext } from '@lib/tenancy';
import type { RoleRecord } from './role.types';
import { RolesRepository } from './roles.repository';

export const ROLES_CACHE_TTL_MS = 10_000;

/**
 * Roles per tenant, cached briefly (permissions are resolved on every request from the caller's role ids).
 * Local role changes invalidate the tenant's entry at once; other instances see them within the TTL.
 */
@Injectable()
export class RolesCache {
  private readonly cache = new RefreshingCache<Map<string, RoleRecord>>({
    max: 5_000,
    ttlMs: ROLES_CACHE_TTL_MS,
    maxStaleMs: CACHE_MAX_STALE_MS,
    load: async () => new Map((await this.repository.list()).map((r) => [r.id, r])),
  });

  constructor(private readonly repository: RolesRepository) {}

  /** The current tenant's roles by id (from the request context). */
  async roles(): Promise<Map<string, RoleRecord>> {
    return (await this.cache.get(RequestContext.tenant().id)) ?? new Map();
  }

  async permissionsOf(roleIds: readonly string[]): Promise<Set<string>> {
    const roles = await this.roles();
    const permissions = new Set<string>();
    for (const id of roleIds) for (const p of roles.get(id)?.permissions ?? []) permissions.add(p);
    return permissions;
  }

  invalidate(): void {
    this.cache.delete(RequestContext.tenant().id);
  }
}
