import { createSecretKey, randomBytes } from 'node:crypto';
import { ulid } from 'ulid';
import {
  hashRefreshToken,
  newRefreshToken,
  redeemRefreshToken,
  type RefreshFamily,
  type RefreshOptions,
  type RefreshStore,
} from './refresh-token';

/** One session item in memory, with the conditional rotation of the repositories. */
function memoryStore(initial: RefreshFamily) {
  let item: RefreshFamily = { ...initial };
  const store: RefreshStore<RefreshFamily> & { item(): RefreshFamily } = {
    load: async () => ({ ...item }),
    rotate: async (session, rotation) => {
      if (item.refreshHash !== session.refreshHash || item.revoked) return false;
      item = { ...item, ...rotation };
      return true;
    },
    revoke: async () => {
      item = { ...item, revoked: true };
    },
    item: () => item,
  };
  return store;
}

const key = createSecretKey(randomBytes(32));
const options = (graceMs: number, overrides: Partial<RefreshOptions<RefreshFamily>> = {}) => ({
  key,
  graceMs,
  authorize: async () => undefined,
  ...overrides,
});

function login() {
  const ids = [ulid(), ulid()];
  const first = newRefreshToken(ids);
  const store = memoryStore({
    refreshHash: first.hash,
    previousHashes: [],
    revoked: false,
    expiresAt: Math.floor(Date.now() / 1000) + 3600,
  });
  return { ids, token: first.token, store };
}

describe('redeemRefreshToken', () => {
  afterEach(() => jest.useRealTimers());

  it('rotates the current token; the successor is current, the old hash is kept, nothing sealed in clear', async () => {
    const { ids, token, store } = login();
    const out = await redeemRefreshToken(token, ids, store, options(5000));
    expect(out.kind).toBe('issued');
    const next = (out as { token: string }).token;
    expect(next).not.toBe(token);
    expect(store.item().refreshHash).toBe(hashRefreshToken(next));
    expect(store.item().previousHashes).toEqual([hashRefreshToken(token)]);
    expect(JSON.stringify(store.item())).not.toContain(next.split('.').pop());
  });

  it('concurrent presentations: one rotation, every caller gets the same successor', async () => {
    const { ids, token, store } = login();
    const outs = await Promise.all(
      Array.from({ length: 8 }, () => redeemRefreshToken(token, ids, store, options(5000))),
    );
    const tokens = new Set(outs.map((o) => (o.kind === 'issued' ? o.token : o.kind)));
    expect(tokens.size).toBe(1);
    expect(store.item().previousHashes).toHaveLength(1);
    expect(store.item().revoked).toBe(false);
  });

  it('the rotated-out token after the grace is reuse: the family is revoked', async () => {
    jest.useFakeTimers({ now: Date.now() });
    const { ids, token, store } = login();
    const out = await redeemRefreshToken(token, ids, store, options(1000));
    jest.setSystemTime(Date.now() + 1001);
    expect(await redeemRefreshToken(token, ids, store, options(1000))).toEqual({ kind: 'reused' });
    expect(store.item().revoked).toBe(true);
    expect(await redeemRefreshToken((out as { token: string }).token, ids, store, options(1000))).toEqual({
      kind: 'invalid',
    });
  });

  it('within the grace, only while the successor is still current; an older token is always reuse', async () => {
    const { ids, token, store } = login();
    const second = await redeemRefreshToken(token, ids, store, options(60_000));
    await redeemRefreshToken((second as { token: string }).token, ids, store, options(60_000));
    expect(await redeemRefreshToken(token, ids, store, options(60_000))).toEqual({ kind: 'reused' });
    expect(store.item().revoked).toBe(true);
  });

  it('a grace of 0 makes every second presentation reuse', async () => {
    const { ids, token, store } = login();
    await redeemRefreshToken(token, ids, store, options(0));
    expect(await redeemRefreshToken(token, ids, store, options(0))).toEqual({ kind: 'reused' });
  });

  it('the sealed successor opens only with the server key it was sealed under', async () => {
    const { ids, token, store } = login();
    await redeemRefreshToken(token, ids, store, options(5000));
    const otherKey = { ...options(5000), key: createSecretKey(randomBytes(32)) };
    expect(await redeemRefreshToken(token, ids, store, otherKey)).toEqual({ kind: 'reused' });
  });

  it('an unknown secret for a real session is invalid and revokes nothing; authorize runs only for genuine tokens', async () => {
    const { ids, token, store } = login();
    const authorize = jest.fn(async () => undefined);
    const forged = [...ids, randomBytes(32).toString('base64url')].join('.');
    expect(await redeemRefreshToken(forged, ids, store, options(5000, { authorize }))).toEqual({ kind: 'invalid' });
    expect(authorize).not.toHaveBeenCalled();
    expect(store.item().revoked).toBe(false);
    await redeemRefreshToken(token, ids, store, options(5000, { authorize }));
    expect(authorize).toHaveBeenCalledTimes(1);
  });
});
