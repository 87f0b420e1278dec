import { Injectable } from '@nestjs/common';
import { ControlKeys, DynamoClients, type TenantAttributes } from '@lib/dynamo';
import { LRUCache } from 'lru-cache';
import { ControlTableService } from './control-table.service';
import { RefreshingCache } from './refreshing-cache';
import type { ResolvedTenant } from './request-context';

export const TENANT_CACHE_TTL_MS = 5_000;
export const TENANT_CACHE_MAX = 10_000;
/** How old a cached tenant, user or roles entry may get while refreshing it keeps failing (DynamoDB down). */
export const CACHE_MAX_STALE_MS = 60_000;

export function toResolvedTenant(record: TenantAttributes): ResolvedTenant {
  return {
    id: record.id,
    slug: record.slug,
    name: record.name,
    status: record.status,
    tableName: record.tableName,
    schemaVersion: record.schemaVersion,
    settings: {
      ...record.settings,
      monthlyTokenQuota: record.settings?.monthlyTokenQuota ?? null,
      retentionDays: record.settings?.retentionDays ?? null,
    },
  };
}

/**
 * tenant id → tenant record, with a refreshing LRU cache in front of the control table (short TTL; updated on
 * local writes). In steady state resolving a tenant costs no DynamoDB call. Concurrent misses for the same
 * tenant share one GetItem; unknown tenants are cached too (as `false`).
 */
@Injectable()
export class TenantRegistry {
  private readonly cache = new RefreshingCache<ResolvedTenant | false>({
    max: TENANT_CACHE_MAX,
    ttlMs: TENANT_CACHE_TTL_MS,
    maxStaleMs: CACHE_MAX_STALE_MS,
    load: async (id) => (await this.load(id)) ?? false,
  });

  /** slug → tenant id (a slug never moves to another tenant: deleted tenants keep theirs). */
  private readonly slugs = new LRUCache<string, string>({ max: TENANT_CACHE_MAX, ttl: 10 * 60_000 });

  constructor(
    private readonly control: ControlTableService,
    private readonly clients: DynamoClients,
  ) {}

  /** The tenant that owns `slug`, or undefined (unknown slugs are not cached). */
  async resolveSlug(slug: string): Promise<ResolvedTenant | undefined> {
    let id = this.slugs.get(slug);
    if (!id) {
      const marker = await this.control.models.markers.get({ pk: `SLUG#${slug}`, sk: 'SLUG' }, { consistent: true });
      if (!marker) return undefined;
      id = marker.ownerId;
      this.slugs.set(slug, id);
    }
    return this.resolve(id);
  }

  /** The tenant, or undefined when no such tenant exists. */
  async resolve(tenantId: string): Promise<ResolvedTenant | undefined> {
    return (await this.cache.get(tenantId)) || undefined;
  }

  invalidate(tenantId: string): void {
    this.cache.delete(tenantId);
  }

  /** Puts a record just written by this instance, so that the change applies here at once. */
  remember(record: TenantAttributes): void {
    this.cache.set(record.id, toResolvedTenant(record));
  }

  /** The tenant record, read with the SDK's cached-stack client (dynamoose's `get` cost ~0.8 ms of CPU more). */
  private async load(tenantId: string): Promise<ResolvedTenant | undefined> {
    const item = await this.clients.get({
      TableName: this.control.tableName,
      Key: ControlKeys.tenant(tenantId),
      ConsistentRead: true,
    });
    return item ? toResolvedTenant(item as unknown as TenantAttributes) : undefined;
  }
}
