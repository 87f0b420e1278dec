import { RefreshingCache } from './refreshing-cache';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A load function whose answers the test scripts: a value, or an error. */
function scripted() {
  const calls: string[] = [];
  let next: () => Promise<string> = async () => 'v1';
  const load = async (key: string) => {
    calls.push(key);
    return next();
  };
  return { calls, load, answer: (fn: () => Promise<string>) => (next = fn) };
}

describe('RefreshingCache', () => {
  it('loads once, then serves the stale value at once while one background load refreshes it', async () => {
    const s = scripted();
    const cache = new RefreshingCache({ max: 10, ttlMs: 50, maxStaleMs: 10_000, load: s.load });
    expect(await Promise.all([cache.get('k'), cache.get('k')])).toEqual(['v1', 'v1']);
    expect(s.calls).toHaveLength(1); // concurrent misses share one load
    await sleep(70);
    let release!: (v: string) => void;
    s.answer(() => new Promise((r) => (release = r)));
    expect(await cache.get('k')).toBe('v1'); // stale, not blocked by the pending load
    expect(await cache.get('k')).toBe('v1');
    expect(s.calls).toHaveLength(2); // one refresh for both
    release('v2');
    await sleep(5);
    expect(await cache.get('k')).toBe('v2');
  });

  it('keeps the old value when a refresh fails, but only up to maxStaleMs after it was loaded', async () => {
    const s = scripted();
    const cache = new RefreshingCache({ max: 10, ttlMs: 100, maxStaleMs: 500, load: s.load });
    expect(await cache.get('k')).toBe('v1');
    s.answer(async () => {
      throw new Error('ThrottlingException');
    });
    await sleep(150);
    expect(await cache.get('k')).toBe('v1'); // stale; the refresh fails in the background
    await sleep(150);
    expect(await cache.get('k')).toBe('v1'); // the failed refresh kept it (loaded ~300 ms ago)
    await sleep(350); // loaded ~650 ms ago: past maxStaleMs
    await cache.get('k').catch(() => undefined); // serves the stale value once more and tries again: fails
    await sleep(5);
    await expect(cache.get('k')).rejects.toThrow('ThrottlingException'); // dropped: the error reaches the caller
    s.answer(async () => 'v3');
    expect(await cache.get('k')).toBe('v3'); // and the next success is served
  });

  it('applies local writes at once', async () => {
    const s = scripted();
    const cache = new RefreshingCache({ max: 10, ttlMs: 10_000, maxStaleMs: 10_000, load: s.load });
    cache.set('k', 'local');
    expect(await cache.get('k')).toBe('local');
    cache.delete('k');
    expect(await cache.get('k')).toBe('v1');
    expect(s.calls).toEqual(['k']);
  });
});
