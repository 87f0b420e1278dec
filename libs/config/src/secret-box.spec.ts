import { randomBytes } from 'node:crypto';
import { SecretBox, SecretKeyMissingError, SecretUnreadableError } from './secret-box';

const k1 = { kid: 'k1', key: randomBytes(32) };
const k2 = { kid: 'k2', key: randomBytes(32) };
const AAD = 'tenant/01ABC/settings.llm.apiKey';

describe('SecretBox', () => {
  it('seals under the first key with a fresh IV, and opens to the plaintext', () => {
    const box = new SecretBox([k1]);
    const a = box.seal('sk-secret', AAD);
    const b = box.seal('sk-secret', AAD);
    expect(a).toMatch(/^v1:k1:[\w-]+:[\w-]+:[\w-]+$/);
    expect(a).not.toContain('sk-secret');
    expect(a).not.toBe(b);
    expect(box.open(a, AAD)).toBe('sk-secret');
  });

  it('opens values sealed under an older key of the keyring, and says they need resealing', () => {
    const sealed = new SecretBox([k1]).seal('sk-old', AAD);
    const rotated = new SecretBox([k2, k1]);
    expect(rotated.open(sealed, AAD)).toBe('sk-old');
    expect(rotated.needsReseal(sealed)).toBe(true);
    expect(rotated.needsReseal(rotated.seal('sk-new', AAD))).toBe(false);
    expect(rotated.needsReseal('sk-plaintext')).toBe(true);
  });

  it('fails loudly, naming the key id, when the key was removed from the keyring', () => {
    const sealed = new SecretBox([k1]).seal('sk-old', AAD);
    const error = (() => {
      try {
        new SecretBox([k2]).open(sealed, AAD);
      } catch (e) {
        return e as Error;
      }
    })();
    expect(error).toBeInstanceOf(SecretKeyMissingError);
    expect(error?.message).toContain('"k1"');
    expect(error?.message).not.toContain('sk-old');
  });

  it('refuses a value moved to another owner, and any altered value', () => {
    const box = new SecretBox([k1]);
    const sealed = box.seal('sk-secret', AAD);
    expect(() => box.open(sealed, 'tenant/01XYZ/settings.llm.apiKey')).toThrow(SecretUnreadableError);
    const parts = sealed.split(':');
    const flipped = Buffer.from(parts[3], 'base64url');
    flipped[0] ^= 1;
    expect(() => box.open([...parts.slice(0, 3), flipped.toString('base64url'), parts[4]].join(':'), AAD)).toThrow(
      SecretUnreadableError,
    );
    expect(() => box.open(`${parts.slice(0, 4).join(':')}`, AAD)).toThrow(SecretUnreadableError);
    expect(() => box.open(sealed.replace(':k1:', ':k2:'), AAD)).toThrow(SecretKeyMissingError);
  });

  it('reads a value stored before sealing as the plaintext it is', () => {
    expect(new SecretBox([k1]).open('sk-legacy', AAD)).toBe('sk-legacy');
    expect(SecretBox.isSealed('sk-legacy')).toBe(false);
  });

  it('refuses a bad keyring', () => {
    expect(() => new SecretBox([])).toThrow();
    expect(() => new SecretBox([{ kid: 'k1', key: randomBytes(16) }])).toThrow();
    expect(() => new SecretBox([k1, { ...k2, kid: 'k1' }])).toThrow();
  });
});
