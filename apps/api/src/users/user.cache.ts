import { Injectable } from '@nestjs/common';
import { AppConfig } from '@lib/config';
import { ChangeFeed, TenantItemCache } from '@lib/tenancy';
import type { UserRecord } from './user.types';
import { UsersRepository } from './users.repository';

/**
 * Users by (tenant, id) for the per-request caller check, cached until the change feed names the user
 * (disabled, deleted, roles changed, sessions revoked): at once on this instance, within the revocation bound on
 * the others. A class of its own so that Nest injects it by type.
 */
@Injectable()
export class UserCache extends TenantItemCache<UserRecord> {
  constructor(repository: UsersRepository, config: AppConfig, feed: ChangeFeed) {
    super('user', (id) => repository.get(id), config.caches.users, config, feed);
  }
}
