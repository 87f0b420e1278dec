import { createSecretKey } from 'node:crypto';
import { CursorCodec, InvalidCursorError } from './cursor';

describe('CursorCodec', () => {
  const codec = new CursorCodec(createSecretKey(Buffer.from('k'.repeat(32))));
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
});
