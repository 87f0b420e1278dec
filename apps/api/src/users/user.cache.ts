import { Injectable } from '@nestjs/common';
import { CACHE_MAX_STALE_MS, RefreshingCache, RequestContext } from '@lib/tenancy';
import type { UserRecord } from './user.types';
import { UsersRepository } from './users.repository';

/**
 * How long another instance may still accept the access token of a user who was just disabled or deleted
 * (this instance forgets the user at once). Documented in the README.
 */
export const USER_CACHE_TTL_MS = 5_000;

/** Users by (tenant, id), cached briefly for the per-request caller check. */
@Injectable()
export class UserCache {
  private readonly cache = new RefreshingCache<UserRecord | false>({
    max: 50_000,
    ttlMs: USER_CACHE_TTL_MS,
    maxStaleMs: CACHE_MAX_STALE_MS,
    load: async (key) => (await this.repository.get(key.slice(key.indexOf(':') + 1))) ?? false,
  });

  constructor(private readonly repository: UsersRepository) {}

  async get(userId: string): Promise<UserRecord | undefined> {
    return (await this.cache.get(`${RequestContext.tenant().id}:${userId}`)) || undefined;
  }

  invalidate(userId: string): void {
    this.cache.delete(`${RequestContext.tenant().id}:${userId}`);
  }
}
