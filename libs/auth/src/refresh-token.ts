import { ULID_PATTERN } from '@lib/observability';
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

const SECRET = /^[A-Za-z0-9_-]{43}$/;

/**
 * Opaque refresh tokens `<id>.<id>...<secret>`: the ids (e.g. operator id and session id, or tenant, user
 * and session ids) find the session item with one GetItem; only the SHA-256 of the whole token is stored.
 */
export function newRefreshToken(ids: string[]): { token: string; hash: string } {
  const token = [...ids, randomBytes(32).toString('base64url')].join('.');
  return { token, hash: hashRefreshToken(token) };
}

export function hashRefreshToken(token: string): string {
  return createHash('sha256').update(token).digest('base64url');
}

/** The ids of a well-formed refresh token with `idCount` ids, or undefined. */
export function refreshTokenIds(token: string, idCount: number): string[] | undefined {
  const parts = token.split('.');
  if (parts.length !== idCount + 1) return undefined;
  const ids = parts.slice(0, idCount);
  return ids.every((id) => ULID_PATTERN.test(id)) && SECRET.test(parts[idCount]) ? ids : undefined;
}

export function sameHash(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}
