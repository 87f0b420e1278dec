import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

/** Every API key starts with this, so that a bearer credential is recognised as a key without a lookup. */
export const API_KEY_PREFIX = 'cpk_';
const ULID = '[0-9A-HJKMNP-TV-Z]{26}';
/** `cpk_<tenant id>_<key id>_<secret>`: the ids find the record (tenant table, then key) without a global index. */
const API_KEY = new RegExp(`^${API_KEY_PREFIX}(${ULID})_(${ULID})_([A-Za-z0-9_-]{43})$`);
/** Characters of the secret shown in lists (24 of its 256 bits), to tell keys apart. */
const SHOWN_SECRET_CHARS = 4;

export interface ParsedApiKey {
  tenantId: string;
  keyId: string;
  secret: string;
}

/** A new key: the secret (returned once) and what is stored of it. */
export function newApiKey(tenantId: string, keyId: string): { key: string; prefix: string; secretHash: string } {
  const secret = randomBytes(32).toString('base64url');
  const key = `${API_KEY_PREFIX}${tenantId}_${keyId}_${secret}`;
  return {
    key,
    prefix: key.slice(0, key.length - secret.length + SHOWN_SECRET_CHARS),
    secretHash: hashOf(keyId, secret),
  };
}

export function parseApiKey(key: string): ParsedApiKey | undefined {
  const match = API_KEY.exec(key);
  return match ? { tenantId: match[1], keyId: match[2], secret: match[3] } : undefined;
}

/** Whether `secret` is the key's, compared in constant time (the hashes have a fixed length). */
export function secretMatches(secretHash: string, key: ParsedApiKey): boolean {
  const stored = Buffer.from(secretHash, 'base64url');
  const presented = createHash('sha256').update(`${key.keyId}.${key.secret}`).digest();
  return stored.length === presented.length && timingSafeEqual(stored, presented);
}

function hashOf(keyId: string, secret: string): string {
  return createHash('sha256').update(`${keyId}.${secret}`).digest('base64url');
}
