import { Injectable } from '@nestjs/common';
import { AppConfig } from '@lib/config';
import type { OperatorAttributes } from '@lib/dynamo';
import { ChangeFeed, FeedCache } from '@lib/tenancy';
import { OperatorsRepository } from './operators.repository';

/** What the per-request check and `/v1/platform/me` need of an operator (never the password hash). */
export type CachedOperator = Pick<OperatorAttributes, 'id' | 'email' | 'name' | 'disabled' | 'tokensValidAfter'>;

/**
 * Operators by id for the per-request check of platform tokens, cached until the change feed names the operator
 * (disabled or enabled): at once on this instance, within the revocation bound on the others. Unknown ids are
 * cached too (as `false`): an id is a ULID minted at creation, so no operator can appear under it later.
 */
@Injectable()
export class OperatorCache {
  private readonly cache: FeedCache<CachedOperator | false>;

  constructor(
    private readonly repository: OperatorsRepository,
    config: AppConfig,
    feed: ChangeFeed,
  ) {
    this.cache = new FeedCache<CachedOperator | false>({
      max: config.caches.operators,
      lifetimeMs: config.caches.lifetimeMs,
      freshness: feed,
      load: async (id) => {
        const operator = await this.repository.findById(id);
        if (!operator) return false;
        const { email, name, disabled, tokensValidAfter } = operator;
        return { id, email, name, disabled, tokensValidAfter };
      },
    });
    feed.subscribe('operator', ({ id }) => id && this.cache.delete(id));
  }

  async get(id: string): Promise<CachedOperator | undefined> {
    return (await this.cache.get(id)) || undefined;
  }

  /** After this instance's own write: the next request re-reads the operator. */
  invalidate(id: string): void {
    this.cache.delete(id);
  }
}
