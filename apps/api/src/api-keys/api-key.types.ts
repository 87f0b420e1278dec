/** An API key as stored in the tenant table (never its secret: only the secret's hash). */
export interface ApiKeyRecord {
  id: string;
  name: string;
  /** The start of the key as shown in lists: `cpk_<tenant>_<id>_` and the secret's first characters. */
  prefix: string;
  /** SHA-256 of the key id and secret (base64url): the secret is 256 random bits, so no slow hash is needed. */
  secretHash: string;
  roleIds: string[];
  /** The user who created the key: the key never holds more than this user does now. */
  createdBy: string;
  createdAt: string;
  expiresAt?: string;
  /** At most one write per key per LAST_USED_EVERY_MS (api-key.strategy.ts). */
  lastUsedAt?: string;
}
