import { LRUCache } from 'lru-cache';

interface Entry<V> {
  value: V;
  /** When the load that read the value started (not when it was last served). */
  loadedAt: number;
}

/** Whether an entry loaded at a given time may still be served (the change feed's answer). */
export interface Freshness {
  trusts(loadedAt: number): boolean;
}

export interface FeedCacheOptions<V> {
  /** Entries kept (least recently used go first). */
  max: number;
  /**
   * Safety lifetime: past it an entry is refreshed in the background even if the feed never named it. Changes
   * arrive through the feed; this only bounds the damage of a bug in it.
   */
  lifetimeMs: number;
  freshness: Freshness;
  load: (key: string) => Promise<V>;
}

/**
 * A per-request lookup (tenant, user, roles, operator) cached until the change feed names it (`delete`), in a
 * bounded LRU. Steady state costs no DynamoDB call at any number of tenants.
 *
 * - Concurrent misses share one load; past the lifetime the old value is served while one background load
 *   refreshes it (a blocking refresh collapsed throughput with many tenants, bench/README.md).
 * - Fail closed: an entry the feed cannot vouch for (`freshness.trusts` false: the feed has not been read within
 *   the revocation bound) is re-read before it is served, and a failed re-read is the caller's error (503), never
 *   the old value.
 * - A `delete` while a load is in flight keeps that load's answer out of the cache (it may predate the change);
 *   the requests already waiting for it get it, as they would have a moment earlier.
 */
export class FeedCache<V extends NonNullable<unknown>> {
  private readonly cache: LRUCache<string, Entry<V>>;

  constructor(private readonly options: FeedCacheOptions<V>) {
    const { load, freshness } = options;
    this.cache = new LRUCache<string, Entry<V>>({
      max: options.max,
      ttl: options.lifetimeMs,
      allowStale: true,
      noDeleteOnStaleGet: true,
      ignoreFetchAbort: true,
      fetchMethod: async (key, stale) => {
        const loadedAt = Date.now();
        try {
          return { value: await load(key), loadedAt };
        } catch (error) {
          // A failed background refresh keeps the old value only while the feed vouches for it.
          if (stale && freshness.trusts(stale.loadedAt)) return stale;
          throw error;
        }
      },
    });
  }

  async get(key: string): Promise<V | undefined> {
    const current = this.cache.peek(key, { allowStale: true });
    const distrusted = current !== undefined && !this.options.freshness.trusts(current.loadedAt);
    const entry = await this.cache.fetch(key, distrusted ? { forceRefresh: true, allowStale: false } : undefined);
    return entry?.value;
  }

  /** A value this instance just wrote: applies here at once. */
  set(key: string, value: V): void {
    this.cache.set(key, { value, loadedAt: Date.now() });
  }

  delete(key: string): void {
    this.cache.delete(key);
  }

  get size(): number {
    return this.cache.size;
  }
}
