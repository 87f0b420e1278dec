import { Injectable } from '@nestjs/common';
import { AppConfig } from '@lib/config';
import { ChangeFeed, TenantItemCache } from '@lib/tenancy';
import type { ApiKeyRecord } from './api-key.types';
import { ApiKeysRepository } from './api-keys.repository';

/**
 * API keys by (tenant, id) for the per-request check, cached until the change feed names the key (revoked): at
 * once on this instance, within the revocation bound on the others. Unknown ids are cached too (as absent): an
 * id is a ULID minted at creation, so no key appears under an id asked for before. A class of its own so that Nest injects it by type.
 */
@Injectable()
export class ApiKeyCache extends TenantItemCache<ApiKeyRecord> {
  constructor(repository: ApiKeysRepository, config: AppConfig, feed: ChangeFeed) {
    // Sized like the user cache: a key is a caller as a user is, at most one entry per active caller.
    super('apiKey', (id) => repository.get(id), config.caches.users, config, feed);
  }
}
