import { Injectable, Logger } from '@nestjs/common';
import { AppConfig, type SecretBox } from '@lib/config';
import { DomainError } from '@lib/observability';
import { ControlKeys, DynamoClients, type TenantAttributes } from '@lib/dynamo';
import { LRUCache } from 'lru-cache';
import { ChangeFeed } from './change-feed';
import { ControlTableService } from './control-table.service';
import { FeedCache } from './feed-cache';
import type { ResolvedTenant } from './request-context';

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

/** The associated data of a tenant's own LLM API key: it opens for this tenant and this field only. */
export const tenantLlmKeyAad = (tenantId: string): string => `tenant/${tenantId}/settings.llm.apiKey`;

const secretsLogger = new Logger('TenantSecrets');

/**
 * The tenant's own LLM API key in plaintext (sealed at rest, `settings.llm.apiKey`), or undefined when it has
 * none and the deployment's applies. A key that does not open (sealed under a key id since removed from
 * SECRETS_KEYS, or altered) is an operator's error: logged with the tenant and the reason, and the caller gets
 * 503, never the deployment's key in its place.
 */
export function tenantLlmApiKey(tenant: ResolvedTenant, secrets: SecretBox): string | undefined {
  const stored = tenant.settings.llm?.apiKey;
  if (stored === undefined) return undefined;
  try {
    return secrets.open(stored, tenantLlmKeyAad(tenant.id));
  } catch (error) {
    secretsLogger.error(
      `tenant ${tenant.slug} (${tenant.id}): its LLM API key cannot be used: ${(error as Error).message}`,
    );
    throw new DomainError(
      'unavailable',
      "the tenant's LLM credentials cannot be read; an operator must set them again",
    );
  }
}

/**
 * tenant id → tenant record, cached in front of the control table until the change feed names the tenant
 * (and updated at once on this instance's own writes). In steady state resolving a tenant costs no DynamoDB call.
 * Concurrent misses for the same tenant share one GetItem; unknown tenants are cached too (as `false`).
 */
@Injectable()
export class TenantRegistry {
  private readonly cache: FeedCache<ResolvedTenant | false>;

  /** slug → tenant id (a slug never moves to another tenant: deleted tenants keep theirs). */
  private readonly slugs: LRUCache<string, string>;

  constructor(
    private readonly control: ControlTableService,
    private readonly clients: DynamoClients,
    config: AppConfig,
    feed: ChangeFeed,
  ) {
    const { tenants, lifetimeMs } = config.caches;
    this.cache = new FeedCache({
      max: tenants,
      lifetimeMs,
      freshness: feed,
      load: async (id) => (await this.load(id)) ?? false,
    });
    this.slugs = new LRUCache<string, string>({ max: tenants });
    feed.subscribe('tenant', ({ tenantId }) => tenantId && this.cache.delete(tenantId));
  }

  /** The tenant that owns `slug`, or undefined (unknown slugs are not cached). */
  async resolveSlug(slug: string): Promise<ResolvedTenant | undefined> {
    let id = this.slugs.get(slug);
    if (!id) {
      const marker = await this.control.models.markers.get(ControlKeys.slug(slug), { consistent: true });
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

  /**
   * The tenant record, read with the SDK's cached-stack client on a tenant request's path (dynamoose's `get` cost
   * ~0.8 ms of CPU more). The item is the `tenants` model's: written only through it, under the same key.
   */
  private async load(tenantId: string): Promise<ResolvedTenant | undefined> {
    const item = await this.clients.get({
      TableName: this.control.tableName,
      Key: ControlKeys.tenant(tenantId),
      ConsistentRead: true,
    });
    return item ? toResolvedTenant(item as unknown as TenantAttributes) : undefined;
  }
}
