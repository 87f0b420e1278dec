import { ulid } from 'ulid';
import { newApiKey, parseApiKey, secretMatches } from './api-key-secret';

describe('API key secrets', () => {
  const tenantId = ulid();
  const keyId = ulid();

  it('a new key parses back to its tenant, id and secret, and matches only its own hash', () => {
    const { key, prefix, secretHash } = newApiKey(tenantId, keyId);
    const parsed = parseApiKey(key);
    expect(parsed).toEqual({ tenantId, keyId, secret: key.slice(key.length - 43) });
    expect(key.startsWith(prefix)).toBe(true);
    expect(secretHash).not.toContain(parsed!.secret);
    expect(secretMatches(secretHash, parsed!)).toBe(true);
    expect(secretMatches(newApiKey(tenantId, keyId).secretHash, parsed!)).toBe(false);
    // The hash binds the key id: the same secret under another id does not match.
    expect(secretMatches(secretHash, { ...parsed!, keyId: ulid() })).toBe(false);
  });

  it('refuses anything that is not exactly cpk_<ulid>_<ulid>_<43 base64url characters>', () => {
    const { key } = newApiKey(tenantId, keyId);
    for (const bad of [`${key}x`, key.slice(0, -1), key.replace('cpk_', 'cpx_'), key.toLowerCase(), ` ${key}`, '']) {
      expect(parseApiKey(bad)).toBeUndefined();
    }
  });

  it('a stored hash of another length never matches (and never throws)', () => {
    const parsed = parseApiKey(newApiKey(tenantId, keyId).key)!;
    expect(secretMatches('', parsed)).toBe(false);
    expect(secretMatches('AAAA', parsed)).toBe(false);
  });
});
