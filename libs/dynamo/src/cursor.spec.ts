import { createHmac, createSecretKey } from 'node:crypto';
import { CURSOR_TTL_MS, CursorCodec, InvalidCursorError } from './cursor';

describe('CursorCodec', () => {
  const secret = createSecretKey(Buffer.from('k'.repeat(32)));
  const codec = new CursorCodec(secret);
  const binding = { tenant: 't1', list: 'chats', caller: 'u1' };
  const key = { pk: 'CHAT#1', sk: 'CHAT', gsi1pk: 'USER#u1#CHATS', gsi1sk: '2026-01-01#1' };

  it('round-trips the last evaluated key for the same binding', () => {
    const cursor = codec.encode(key, binding);
    expect(cursor).not.toBeNull();
    expect(codec.decode(cursor as string, binding)).toEqual(key);
  });

  it('returns null when there is no next page', () => {
    expect(codec.encode(undefined, binding)).toBeNull();
  });

  it.each([
    ['another tenant', { ...binding, tenant: 't2' }],
    ['another list', { ...binding, list: 'messages:1' }],
    ['another caller', { ...binding, caller: 'u2' }],
  ])('refuses a cursor used for %s', (_name, other) => {
    const cursor = codec.encode(key, binding) as string;
    expect(() => codec.decode(cursor, other)).toThrow(InvalidCursorError);
  });

  it('refuses every other spelling of the signature, such as changed unused bits in its last character', () => {
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
    for (const caller of ['u1', 'u2', 'u3', 'u4', 'u5', 'u6', 'u7', 'u8']) {
      const own = { ...binding, caller };
      const [payload, sig] = (codec.encode(key, own) as string).split('.');
      // 32 MAC bytes take 43 base64url characters; the last one carries 4 bits and 2 unused ones.
      const last = alphabet.indexOf(sig.at(-1) as string);
      for (const unused of [1, 2, 3]) {
        const respelled = `${payload}.${sig.slice(0, -1)}${alphabet[last ^ unused]}`;
        expect(Buffer.from(respelled.split('.')[1], 'base64url')).toEqual(Buffer.from(sig, 'base64url'));
        expect(() => codec.decode(respelled, own)).toThrow(InvalidCursorError);
      }
      expect(() => codec.decode(`${payload}.${sig}=`, own)).toThrow(InvalidCursorError);
    }
  });

  it('refuses an edited payload, a cut signature and garbage', () => {
    const cursor = codec.encode(key, binding) as string;
    const [payload, sig] = cursor.split('.');
    const edited = Buffer.from(JSON.stringify({ ...key, pk: 'CHAT#2' })).toString('base64url');
    for (const bad of [
      `${edited}.${sig}`,
      `${payload}.${sig.slice(0, -2)}`,
      'garbage',
      '',
      `${cursor}.x`,
      'a'.repeat(5000),
    ]) {
      expect(() => codec.decode(bad, binding)).toThrow(InvalidCursorError);
    }
  });

  it('refuses a cursor signed with another key', () => {
    const other = new CursorCodec(createSecretKey(Buffer.from('o'.repeat(32))));
    expect(() => codec.decode(other.encode(key, binding) as string, binding)).toThrow(InvalidCursorError);
  });

  it('refuses a cursor of the format before expiry (the bare key, no issue time), even with a valid MAC', () => {
    const legacy = Buffer.from(JSON.stringify(key)).toString('base64url');
    const mac = createHmac('sha256', secret)
      .update(JSON.stringify([binding.tenant, binding.list, binding.caller]))
      .update('\n')
      .update(legacy)
      .digest('base64url');
    expect(() => codec.decode(`${legacy}.${mac}`, binding)).toThrow(InvalidCursorError);
    // The same MAC construction accepts a payload of the current format: only the shape was refused above.
    const current = Buffer.from(JSON.stringify({ k: key, t: Math.floor(Date.now() / 1000) })).toString('base64url');
    const currentMac = createHmac('sha256', secret)
      .update(JSON.stringify([binding.tenant, binding.list, binding.caller]))
      .update('\n')
      .update(current)
      .digest('base64url');
    expect(codec.decode(`${current}.${currentMac}`, binding)).toEqual(key);
  });

  describe('lifetime', () => {
    let now = Date.parse('2026-11-01T12:00:00.000Z');
    const clocked = new CursorCodec(secret, { now: () => now });

    it(`reads further pages for ${CURSOR_TTL_MS / 3_600_000} h after it was issued, then is refused`, () => {
      now = Date.parse('2026-11-01T12:00:00.000Z');
      const cursor = clocked.encode(key, binding) as string;
      now += CURSOR_TTL_MS - 1000;
      expect(clocked.decode(cursor, binding)).toEqual(key);
      now += 2000;
      expect(() => clocked.decode(cursor, binding)).toThrow(InvalidCursorError);
      // Every page issues a fresh cursor with its own lifetime.
      const fresh = clocked.encode(key, binding) as string;
      expect(clocked.decode(fresh, binding)).toEqual(key);
    });

    it('refuses a cursor issued further in the future than clock skew explains', () => {
      now = Date.parse('2026-11-01T12:00:00.000Z');
      const cursor = clocked.encode(key, binding) as string;
      now -= 60_000;
      expect(clocked.decode(cursor, binding)).toEqual(key);
      now -= 3_600_000;
      expect(() => clocked.decode(cursor, binding)).toThrow(InvalidCursorError);
    });

    it('the issue time is signed: moving it forward breaks the MAC', () => {
      now = Date.parse('2026-11-01T12:00:00.000Z');
      const [payload, sig] = (clocked.encode(key, binding) as string).split('.');
      const body = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as { t: number };
      now += CURSOR_TTL_MS * 2;
      const refreshed = Buffer.from(JSON.stringify({ ...body, t: Math.floor(now / 1000) })).toString('base64url');
      expect(() => clocked.decode(`${refreshed}.${sig}`, binding)).toThrow(InvalidCursorError);
    });
  });

  it('carries signed claims: read back as issued, refused when edited', () => {
    const cursor = codec.encode(key, binding, { owner: 'u9' }) as string;
    expect(codec.open(cursor, binding)).toEqual({ key, claims: { owner: 'u9' } });
    expect(codec.open(codec.encode(key, binding) as string, binding).claims).toEqual({});
    const [payload, sig] = cursor.split('.');
    const body = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as Record<string, unknown>;
    const edited = Buffer.from(JSON.stringify({ ...body, c: { owner: 'u1' } })).toString('base64url');
    expect(() => codec.open(`${edited}.${sig}`, binding)).toThrow(InvalidCursorError);
  });
  it('page: reads from the start, then from the key the cursor names, and signs the next cursor for the same binding', async () => {
    const starts: unknown[] = [];
    const read = async (start: unknown) => {
      starts.push(start);
      return { items: [1, 2], lastKey: start ? undefined : key };
    };
    const first = await codec.page(undefined, binding, read, (items) => items.map(String));
    expect(first.items).toEqual(['1', '2']);
    const last = await codec.page(first.nextCursor ?? undefined, binding, read, (items) => items);
    expect(last.nextCursor).toBeNull();
    expect(starts).toEqual([undefined, key]);
    await expect(
      codec.page(first.nextCursor ?? undefined, { ...binding, caller: 'u2' }, read, (items) => items),
    ).rejects.toThrow(InvalidCursorError);
    expect(starts).toHaveLength(2);
  });
});
