import type { AppConfig } from '@lib/config';
import type { ChangeFeed, ChangeKind } from './change-feed';
import { FeedCache } from './feed-cache';
import { RequestContext } from './request-context';

const keyOf = (tenantId: string, id: string) => `${tenantId}:${id}`;

/**
 * Items of one kind by (tenant, id) for per-request checks, cached until the change feed names the item: at once
 * on this instance, within the revocation bound on the others. Missing items are cached too (as absent), so an
 * unknown id asked for again costs no read: a kind whose items can appear under an id asked for before must have
 * their creation name them in the feed. Entries are keyed by tenant as well, since ids are unique per table only.
 */
export class TenantItemCache<T extends NonNullable<unknown>> {
  private readonly cache: FeedCache<T | false>;

  /**
   * @param kind the change kind that names one item (tenant and id): its cached copy is dropped on every instance
   * @param load reads the item of the current tenant (the request context's table); `undefined` when there is none
   * @param max entries kept (least recently used go first)
   * @param config the safety lifetime of every entry (FeedCacheOptions.lifetimeMs)
   * @param feed vouches for entries and names the changed items (the ChangeFeed)
   */
  constructor(
    kind: ChangeKind,
    load: (id: string) => Promise<T | undefined>,
    max: number,
    config: Pick<AppConfig, 'caches'>,
    feed: Pick<ChangeFeed, 'trusts' | 'subscribe'>,
  ) {
    this.cache = new FeedCache({
      max,
      lifetimeMs: config.caches.lifetimeMs,
      freshness: feed,
      // The loader runs in the request that missed, so it reads that request's tenant: the key's tenant part.
      load: async (key) => (await load(key.slice(key.indexOf(':') + 1))) ?? false,
    });
    feed.subscribe(kind, ({ tenantId, id }) => tenantId && id && this.cache.delete(keyOf(tenantId, id)));
  }

  /** The item of the current tenant (request context). */
  async get(id: string): Promise<T | undefined> {
    return (await this.cache.get(keyOf(RequestContext.tenant().id, id))) || undefined;
  }

  /** Drops the current tenant's item after this instance changed it (the feed tells the others). */
  invalidate(id: string): void {
    this.cache.delete(keyOf(RequestContext.tenant().id, id));
  }
}
