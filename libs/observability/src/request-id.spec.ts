import { fastUlid, requestIdFrom } from './request-id';

describe('request ids', () => {
  it('echoes a well-formed X-Request-Id', () => {
    expect(requestIdFrom('abc-123.x:y_z')).toBe('abc-123.x:y_z');
    expect(requestIdFrom(['first', 'second'])).toBe('first');
  });

  it.each([undefined, '', 'has space', 'a'.repeat(129), '<script>', 'ünïcode'])(
    'replaces %p with a new ULID',
    (header) => {
      expect(requestIdFrom(header)).toMatch(/^[0-9A-HJKMNP-TV-Z]{26}$/);
    },
  );

  it('makes distinct, time-ordered ULIDs across pool refills', () => {
    const ids = Array.from({ length: 10_000 }, () => fastUlid());
    expect(new Set(ids).size).toBe(ids.length);
    expect(ids.every((id) => /^[0-9A-HJKMNP-TV-Z]{26}$/.test(id))).toBe(true);
    expect([...ids].sort()[0].slice(0, 10) <= ids[ids.length - 1].slice(0, 10)).toBe(true);
    // The random part uses the whole alphabet (a broken PRNG would repeat a few characters).
    expect(new Set(ids.map((id) => id.slice(10)).join('')).size).toBe(32);
  });
});
