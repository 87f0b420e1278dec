import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';

/** AES-256 keys are 32 bytes. */
export const SECRET_KEY_BYTES = 32;
const FORMAT = 'v1';
const IV_BYTES = 12;
const TAG_BYTES = 16;
const KID = /^[A-Za-z0-9_-]{1,32}$/;
const B64URL = /^[A-Za-z0-9_-]*$/;

/** One key of the keyring: its id (written into every value it seals) and its 32 bytes. */
export interface SecretKey {
  kid: string;
  key: Buffer;
}

/** The sealed value names a key the keyring no longer holds (removed from SECRETS_KEYS too early). */
export class SecretKeyMissingError extends Error {
  constructor(readonly kid: string) {
    super(`secret sealed under key "${kid}", which is not in SECRETS_KEYS: add the key back, or set the secret again`);
    this.name = 'SecretKeyMissingError';
  }
}

/** The sealed value is malformed, was tampered with, or belongs to another owner (associated data). */
export class SecretUnreadableError extends Error {
  constructor(readonly kid: string | undefined) {
    super(`secret${kid ? ` sealed under key "${kid}"` : ''} cannot be opened: malformed, altered or not this owner's`);
    this.name = 'SecretUnreadableError';
  }
}

/**
 * Secrets stored at rest (tenant LLM API keys...), sealed with AES-256-GCM under a keyring (SECRETS_KEYS): the
 * first key seals, every key opens, so keys rotate without downtime (README "Secrets"). A sealed value is
 * `v1:<kid>:<iv>:<ciphertext>:<tag>` (base64url parts); the associated data names its owner and purpose
 * (`tenant/<id>/settings.llm.apiKey`), so a value copied into another record or field does not open.
 */
export class SecretBox {
  private readonly keys: Map<string, Buffer>;
  /** The key that seals. */
  readonly currentKid: string;

  constructor(keys: SecretKey[]) {
    if (keys.length === 0) throw new Error('a keyring needs at least one key');
    this.keys = new Map();
    for (const { kid, key } of keys) {
      if (!KID.test(kid)) throw new Error(`key id "${kid}" must be 1-32 letters, digits, _ or -`);
      if (key.length !== SECRET_KEY_BYTES) throw new Error(`key "${kid}" must be ${SECRET_KEY_BYTES} bytes`);
      if (this.keys.has(kid)) throw new Error(`key id "${kid}" appears twice`);
      this.keys.set(kid, Buffer.from(key));
    }
    this.currentKid = keys[0].kid;
  }

  /** Whether `value` is in the sealed format (else it is a plaintext written before secrets were sealed). */
  static isSealed(value: string): boolean {
    return value.startsWith(`${FORMAT}:`);
  }

  /** The key id a sealed value names, or undefined for a plaintext. */
  static kidOf(value: string): string | undefined {
    return SecretBox.isSealed(value) ? value.split(':')[1] : undefined;
  }

  seal(plain: string, aad: string): string {
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', this.keys.get(this.currentKid)!, iv, { authTagLength: TAG_BYTES });
    cipher.setAAD(Buffer.from(aad, 'utf8'));
    const ct = Buffer.concat([cipher.update(plain, 'utf8'), cipher.final()]);
    const parts = [iv, ct, cipher.getAuthTag()].map((b) => b.toString('base64url'));
    return [FORMAT, this.currentKid, ...parts].join(':');
  }

  /**
   * The plaintext of a sealed value. A value not in the sealed format is a plaintext stored before secrets were
   * sealed and is returned as is (`secrets:rotate` seals those). Throws SecretKeyMissingError when the key is no
   * longer in the keyring, SecretUnreadableError when the value does not open with `aad`: never a fallback.
   */
  open(stored: string, aad: string): string {
    if (!SecretBox.isSealed(stored)) return stored;
    const parts = stored.split(':');
    const kid = parts[1];
    if (parts.length !== 5 || !parts.slice(2).every((p) => B64URL.test(p))) throw new SecretUnreadableError(kid);
    const key = this.keys.get(kid);
    if (!key) throw new SecretKeyMissingError(kid);
    const [iv, ct, tag] = parts.slice(2).map((p) => Buffer.from(p, 'base64url'));
    if (iv.length !== IV_BYTES || tag.length !== TAG_BYTES) throw new SecretUnreadableError(kid);
    try {
      const decipher = createDecipheriv('aes-256-gcm', key, iv, { authTagLength: TAG_BYTES });
      decipher.setAAD(Buffer.from(aad, 'utf8'));
      decipher.setAuthTag(tag);
      return Buffer.concat([decipher.update(ct), decipher.final()]).toString('utf8');
    } catch {
      throw new SecretUnreadableError(kid);
    }
  }

  /** Whether `stored` must be sealed again: a plaintext, or sealed under a key other than the current one. */
  needsReseal(stored: string): boolean {
    return SecretBox.kidOf(stored) !== this.currentKid;
  }
}

/**
 * SECRETS_KEYS: `kid:<base64 of 32 bytes>` entries separated by commas, the sealing key first. Throws an Error
 * whose message never contains key material.
 */
export function parseSecretKeys(value: string): SecretKey[] {
  const keys: SecretKey[] = [];
  for (const [i, entry] of value
    .split(',')
    .map((e) => e.trim())
    .entries()) {
    const colon = entry.indexOf(':');
    const kid = colon > 0 ? entry.slice(0, colon) : '';
    const material = entry.slice(colon + 1);
    if (!KID.test(kid)) throw new Error(`entry ${i + 1} must be kid:<base64 key> (kid: 1-32 letters, digits, _ or -)`);
    const key = /^[A-Za-z0-9+/_-]+={0,2}$/.test(material) ? Buffer.from(material, 'base64') : Buffer.alloc(0);
    if (key.length !== SECRET_KEY_BYTES) {
      throw new Error(`key "${kid}" must be ${SECRET_KEY_BYTES} bytes in base64 (openssl rand -base64 32)`);
    }
    if (keys.some((k) => k.kid === kid)) throw new Error(`key id "${kid}" appears twice`);
    keys.push({ kid, key });
  }
  return keys;
}
