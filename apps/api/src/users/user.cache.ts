import { Injectable } from '@nestjs/common';
import { AppConfig } from '@lib/config';
import { ChangeFeed, FeedCache, RequestContext } from '@lib/tenancy';
import type { UserRecord } from './user.types';
import { UsersRepository } from './users.repository';

const keyOf = (tenantId: string, userId: string) => `${tenantId}:${userId}`;

/**
 * Users by (tenant, id) for the per-request caller check, cached until the change feed names the user
 * (disabled, deleted, roles changed, sessions revoked): at once on this instance, within the revocation bound on
 * the others.
 */
@Injectable()
export class UserCache {
  private readonly cache: FeedCache<UserRecord | false>;

  constructor(
    private readonly repository: UsersRepository,
    config: AppConfig,
    feed: ChangeFeed,
  ) {
    this.cache = new FeedCache({
      max: config.caches.users,
      lifetimeMs: config.caches.lifetimeMs,
      freshness: feed,
      load: async (key) => (await this.repository.get(key.slice(key.indexOf(':') + 1))) ?? false,
    });
    feed.subscribe('user', ({ tenantId, id }) => tenantId && id && this.cache.delete(keyOf(tenantId, id)));
  }

  async get(userId: string): Promise<UserRecord | undefined> {
    return (await this.cache.get(keyOf(RequestContext.tenant().id, userId))) || undefined;
  }

  invalidate(userId: string): void {
    this.cache.delete(keyOf(RequestContext.tenant().id, userId));
  }
}
