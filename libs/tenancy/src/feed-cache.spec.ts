import { FeedCache, type Freshness } from './feed-cache';

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

/** The feed's verdict, set by the test: entries loaded at or after `since` are trusted. */
function feed(): Freshness & { distrustBefore(at: number): void } {
  let since = Number.NEGATIVE_INFINITY;
  return { trusts: (loadedAt) => loadedAt >= since, distrustBefore: (at) => (since = at) };
}

describe('FeedCache', () => {
  it('loads once, then serves without loading until the feed names the entry', async () => {
    const s = scripted();
    const cache = new FeedCache({ max: 10, lifetimeMs: 60_000, freshness: feed(), load: s.load });
    expect(await Promise.all([cache.get('k'), cache.get('k')])).toEqual(['v1', 'v1']);
    expect(s.calls).toHaveLength(1); // concurrent misses share one load
    s.answer(async () => 'v2');
    for (let i = 0; i < 5; i++) expect(await cache.get('k')).toBe('v1');
    expect(s.calls).toHaveLength(1);
    cache.delete('k'); // the feed named it
    expect(await cache.get('k')).toBe('v2');
    expect(s.calls).toHaveLength(2);
  });

  it('past its lifetime serves the old value while one background load refreshes it', async () => {
    const s = scripted();
    const cache = new FeedCache({ max: 10, lifetimeMs: 50, freshness: feed(), load: s.load });
    expect(await cache.get('k')).toBe('v1');
    await sleep(70);
    let release!: (v: string) => void;
    s.answer(() => new Promise((r) => (release = r)));
    expect(await cache.get('k')).toBe('v1'); // not blocked by the pending load
    expect(await cache.get('k')).toBe('v1');
    expect(s.calls).toHaveLength(2); // one refresh for both
    release('v2');
    await sleep(5);
    expect(await cache.get('k')).toBe('v2');
  });

  it('fails closed: an entry the feed cannot vouch for is re-read, and a failed re-read is an error', async () => {
    const s = scripted();
    const f = feed();
    const cache = new FeedCache({ max: 10, lifetimeMs: 60_000, freshness: f, load: s.load });
    expect(await cache.get('k')).toBe('v1');
    s.answer(async () => {
      throw new Error('ThrottlingException');
    });
    f.distrustBefore(Date.now() + 1); // the feed has been unreadable for longer than the bound
    await expect(cache.get('k')).rejects.toThrow('ThrottlingException'); // never the old value
    s.answer(async () => 'v2');
    expect(await cache.get('k')).toBe('v2'); // re-read, and trusted again (loaded after the horizon)
    expect(await cache.get('k')).toBe('v2');
    expect(s.calls).toHaveLength(3);
  });

  it('keeps the old value when a background refresh fails only while the feed vouches for it', async () => {
    const s = scripted();
    const f = feed();
    const cache = new FeedCache({ max: 10, lifetimeMs: 30, freshness: f, load: s.load });
    expect(await cache.get('k')).toBe('v1');
    s.answer(async () => {
      throw new Error('ThrottlingException');
    });
    await sleep(40);
    expect(await cache.get('k')).toBe('v1'); // stale; the refresh fails in the background and keeps it
    await sleep(5);
    expect(await cache.get('k')).toBe('v1');
    f.distrustBefore(Date.now() + 1);
    await expect(cache.get('k')).rejects.toThrow('ThrottlingException');
  });

  it('keeps a load that was in flight when the feed named the entry out of the cache', async () => {
    const s = scripted();
    const cache = new FeedCache({ max: 10, lifetimeMs: 60_000, freshness: feed(), load: s.load });
    let release!: (v: string) => void;
    s.answer(() => new Promise((r) => (release = r)));
    const waiting = cache.get('k');
    await sleep(1);
    cache.delete('k'); // the change is applied while the read is on its way
    release('before-the-change');
    expect(await waiting).toBe('before-the-change'); // the request that was already waiting gets its answer
    s.answer(async () => 'after-the-change');
    expect(await cache.get('k')).toBe('after-the-change'); // but the cache did not keep it
  });

  it('applies local writes at once', async () => {
    const s = scripted();
    const cache = new FeedCache({ max: 10, lifetimeMs: 60_000, freshness: feed(), load: s.load });
    cache.set('k', 'local');
    expect(await cache.get('k')).toBe('local');
    expect(s.calls).toEqual([]);
  });
});
