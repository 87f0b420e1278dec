import { Injectable } from '@nestjs/common';
import { AppConfig } from '@lib/config';
import { ChangeFeed, FeedCache, RequestContext } from '@lib/tenancy';
import type { ApiKeyRecord } from './api-key.types';
import { ApiKeysRepository } from './api-keys.repository';

const keyOf = (tenantId: string, keyId: string) => `${tenantId}:${keyId}`;

/**
 * API keys by (tenant, id) for the per-request check, cached until the change feed names the key (revoked): at
 * once on this instance, within the revocation bound on the others. Unknown ids are cached too (as `false`): an
 * id is a ULID minted at creation, so no key appears under an id asked for before.
 */
@Injectable()
export class ApiKeyCache {
  private readonly cache: FeedCache<ApiKeyRecord | false>;

  constructor(
    private readonly repository: ApiKeysRepository,
    config: AppConfig,
    feed: ChangeFeed,
  ) {
    this.cache = new FeedCache({
      max: config.caches.users,
      lifetimeMs: config.caches.lifetimeMs,
      freshness: feed,
      load: async (key) => (await this.repository.get(key.slice(key.indexOf(':') + 1))) ?? false,
    });
    feed.subscribe('apiKey', ({ tenantId, id }) => tenantId && id && this.cache.delete(keyOf(tenantId, id)));
  }

  /** The key of the current tenant (request context). */
  async get(keyId: string): Promise<ApiKeyRecord | undefined> {
    return (await this.cache.get(keyOf(RequestContext.tenant().id, keyId))) || undefined;
  }

  invalidate(keyId: string): void {
    this.cache.delete(keyOf(RequestContext.tenant().id, keyId));
  }
}
