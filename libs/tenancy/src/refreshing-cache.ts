import { LRUCache } from 'lru-cache';

interface Entry<V> {
  value: V;
  /** When the value was read from DynamoDB (not when it was last served). */
  loadedAt: number;
}

export interface RefreshingCacheOptions<V> {
  max: number;
  /** Age after which an entry is refreshed (in the background: the stale value is served meanwhile). */
  ttlMs: number;
  /**
   * Age up to which a value may still be served when refreshing it fails (DynamoDB throttling or down); past it
   * the failure reaches the request (503) instead of an ever older answer.
   */
  maxStaleMs: number;
  load: (key: string) => Promise<V>;
}

/**
 * The per-request lookups (tenant, user, roles) cached with stale-while-revalidate: an expired entry is served
 * while one background load refreshes it, so a refresh never blocks requests (measured: with 1 000 active
 * tenants, blocking refreshes collapsed throughput to 4 %, bench/README.md). A failed refresh keeps the old
 * value, up to `maxStaleMs` after it was loaded; without that, the entry was dropped and every request for it
 * blocked on a new load while DynamoDB was slowest (503s in the 1 000-tenant benchmark). Local writes apply at
 * once through `set` / `delete`.
 */
export class RefreshingCache<V extends NonNullable<unknown>> {
  private readonly cache: LRUCache<string, Entry<V>>;

  constructor(options: RefreshingCacheOptions<V>) {
    const { load, maxStaleMs } = options;
    this.cache = new LRUCache<string, Entry<V>>({
      max: options.max,
      ttl: options.ttlMs,
      allowStale: true,
      noDeleteOnStaleGet: true,
      fetchMethod: async (key, stale) => {
        try {
          return { value: await load(key), loadedAt: Date.now() };
        } catch (error) {
          // Served again for one more TTL, still with its original load time.
          if (stale && Date.now() - stale.loadedAt <= maxStaleMs) return stale;
          throw error;
        }
      },
    });
  }

  async get(key: string): Promise<V | undefined> {
    return (await this.cache.fetch(key))?.value;
  }

  set(key: string, value: V): void {
    this.cache.set(key, { value, loadedAt: Date.now() });
  }

  delete(key: string): void {
    this.cache.delete(key);
  }
}
