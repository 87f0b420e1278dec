import {
  RefreshSessions,
  REVOKE_SESSION,
  type SessionItems,
  type SessionKey,
  type SessionUpdate,
} from './refresh-session';
import { rotationUpdate } from './refresh-token';

const OWNER = '01J0000000000000000000000A';
const SESSION = '01J0000000000000000000000B';

/** An in-memory place for session items that records the updates it is given. */
function memory(stored: Record<string, unknown> = {}) {
  const items = new Map<string, Record<string, unknown>>();
  const updates: Array<{ key: SessionKey; update: SessionUpdate }> = [];
  const place: SessionItems = {
    key: (ownerId, sessionId) => ({ pk: `OWNER#${ownerId}`, sk: `SESSION#${sessionId}` }),
    create: async (item) => void items.set(item.sk, { ...item }),
    get: async (key) => items.get(key.sk) ?? (Object.keys(stored).length ? { ...key, ...stored } : undefined),
    update: async (key, update) => (updates.push({ key, update }), true),
    revoke: async (key) => void updates.push({ key, update: REVOKE_SESSION }),
  };
  return { items, updates, sessions: new RefreshSessions(place) };
}

describe('RefreshSessions: one session logic for tenant users and operators', () => {
  it('creates the item at its key: owner, current hash, empty history, createdAt in epoch seconds', async () => {
    const { items, sessions } = memory();
    const before = Math.floor(Date.now() / 1000);
    await sessions.create(OWNER, SESSION, 'h1', 2_000_000_000);
    const item = items.get(`SESSION#${SESSION}`);
    expect(item).toEqual({
      pk: `OWNER#${OWNER}`,
      sk: `SESSION#${SESSION}`,
      ownerId: OWNER,
      sessionId: SESSION,
      refreshHash: 'h1',
      previousHashes: [],
      revoked: false,
      createdAt: expect.any(Number),
      expiresAt: 2_000_000_000,
    });
    expect(item?.createdAt).toBeGreaterThanOrEqual(before);
    const { pk: _pk, sk: _sk, ...session } = item ?? {};
    expect(await sessions.get(OWNER, SESSION)).toEqual(session);
  });

  it('reads an operator session stored with an ISO createdAt (older items) in epoch seconds', async () => {
    const iso = '2026-12-01T10:00:00.000Z';
    const { sessions } = memory({
      operatorId: OWNER,
      sessionId: SESSION,
      refreshHash: 'h',
      previousHashes: [],
      revoked: false,
      expiresAt: 2e9,
      createdAt: iso,
    });
    expect(await sessions.get(OWNER, SESSION)).toMatchObject({ ownerId: OWNER, createdAt: Date.parse(iso) / 1000 });
  });

  it("the store of a refresh token rotates with the shared conditional update at the session's key", async () => {
    const { sessions, updates } = memory();
    await sessions.create(OWNER, SESSION, 'h1', 2_000_000_000);
    const store = sessions.store(OWNER, SESSION, () => 2_000_000_100);
    const session = await store.load();
    const rotation = { refreshHash: 'h2', previousHashes: ['h1'], grace: { fromHash: 'h1', sealed: 's', until: 1 } };
    expect(await store.rotate(session!, rotation)).toBe(true);
    await store.revoke();
    expect(updates).toEqual([
      {
        key: { pk: `OWNER#${OWNER}`, sk: `SESSION#${SESSION}` },
        update: rotationUpdate('h1', rotation, 2_000_000_100),
      },
      { key: { pk: `OWNER#${OWNER}`, sk: `SESSION#${SESSION}` }, update: REVOKE_SESSION },
    ]);
  });
});
