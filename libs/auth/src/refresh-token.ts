import { ULID_PATTERN } from '@lib/observability';
import {
  createCipheriv,
  createDecipheriv,
  createHash,
  createHmac,
  type KeyObject,
  randomBytes,
  timingSafeEqual,
} from 'node:crypto';

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

/** Rotated-out hashes kept per session for reuse detection. */
export const MAX_PREVIOUS_HASHES = 50;

/** The last rotation of a session, for the grace window. */
export interface RefreshGrace {
  /** Hash of the token that rotation took out. */
  fromHash: string;
  /** Its successor, sealed (see `seal`): only a holder of the rotated-out token can open it. */
  sealed: string;
  /** Epoch ms until which presenting the rotated-out token again gets that successor. */
  until: number;
}

/** The fields of a session item (tenant user or operator) that the rotation rule reads. */
export interface RefreshFamily {
  refreshHash: string;
  previousHashes: string[];
  revoked: boolean;
  /** Epoch seconds. */
  expiresAt: number;
  grace?: RefreshGrace;
}

/** The fields a rotation writes, conditionally on `refreshHash` still being the presented one and not revoked. */
export interface RefreshRotation {
  refreshHash: string;
  previousHashes: string[];
  grace: RefreshGrace;
}

/**
 * The conditional update that stores a rotation on a session item, whichever table holds it: only while the
 * presented hash is still the current one and the session is not revoked (another refresh won otherwise).
 */
export function rotationUpdate(currentHash: string, rotation: RefreshRotation, expiresAt: number) {
  return {
    UpdateExpression: 'SET refreshHash = :new, previousHashes = :prev, grace = :grace, expiresAt = :exp',
    ConditionExpression: 'refreshHash = :current AND revoked = :false',
    ExpressionAttributeValues: {
      ':new': rotation.refreshHash,
      ':prev': rotation.previousHashes,
      ':grace': rotation.grace,
      ':exp': expiresAt,
      ':current': currentHash,
      ':false': false,
    },
  };
}

/** Where the session of a refresh token lives; one per call (it knows the token's ids). */
export interface RefreshStore<S extends RefreshFamily> {
  load(): Promise<S | undefined>;
  /** Writes `rotation` if `session.refreshHash` is still current and not revoked; false when it was not. */
  rotate(session: S, rotation: RefreshRotation): Promise<boolean>;
  revoke(): Promise<void>;
}

export interface RefreshOptions<S> {
  /** Key mixed into the sealing key of successors (AppConfig.refreshGrace.key). */
  key: KeyObject;
  /** How long a duplicate of a just-rotated token gets the same successor; 0 = never. */
  graceMs: number;
  /**
   * Checks that only a proven holder may pass or learn about (disabled user, suspended tenant...); runs once
   * the presented token is known genuine, before a token is issued. Throws to refuse.
   */
  authorize(session: S): Promise<void>;
}

/**
 * - `issued`: the successor to hand out (new, or the one a duplicate within the grace gets again);
 * - `reused`: a rotated-out token was presented after the grace: the session has been revoked;
 * - `invalid`: unknown, forged, expired or revoked.
 */
export type RefreshOutcome<S> =
  | { kind: 'issued'; session: S; token: string }
  | { kind: 'reused' }
  | { kind: 'invalid' };

/**
 * The rotation rule shared by tenant and operator refresh. A token is good once: presenting the current one
 * rotates it (conditional write, so two presentations cannot both rotate). Presenting the token just rotated
 * out again within the grace (two tabs, a client retry) gets the same successor; any other rotated-out token,
 * or that one after the grace, is reuse and revokes the whole family.
 *
 * Handing the same successor back needs it again, but only hashes of tokens are stored. We keep the successor
 * sealed in the session item instead: AES-256-GCM under a key derived from the rotated-out token itself (HMAC
 * with a server key), so opening it takes the old token's plaintext, the server key and the item; the database
 * alone reveals nothing. The alternative, deriving successors deterministically (HMAC of the presented token),
 * would make every later token of a family computable from any old one plus the server key, without the
 * database; sealed, an old token opens at most the successor of the last rotation, and is honoured only within
 * the grace and while that successor is current.
 */
export async function redeemRefreshToken<S extends RefreshFamily>(
  presented: string,
  ids: string[],
  store: RefreshStore<S>,
  options: RefreshOptions<S>,
): Promise<RefreshOutcome<S>> {
  const session = await store.load();
  if (!live(session)) return { kind: 'invalid' };
  const presentedHash = hashRefreshToken(presented);
  if (!sameHash(presentedHash, session.refreshHash))
    return duplicateOrReuse(session, presented, presentedHash, store, options);
  await options.authorize(session);
  const next = newRefreshToken(ids);
  const rotation: RefreshRotation = {
    refreshHash: next.hash,
    previousHashes: [...session.previousHashes, session.refreshHash].slice(-MAX_PREVIOUS_HASHES),
    grace: {
      fromHash: presentedHash,
      sealed: seal(options.key, presented, next.token),
      until: Date.now() + options.graceMs,
    },
  };
  if (await store.rotate(session, rotation)) return { kind: 'issued', session, token: next.token };
  // Another presentation of the same token rotated it first (or the session was revoked): judge against that.
  const latest = await store.load();
  if (!live(latest)) return { kind: 'invalid' };
  return duplicateOrReuse(latest, presented, presentedHash, store, options);
}

async function duplicateOrReuse<S extends RefreshFamily>(
  session: S,
  presented: string,
  presentedHash: string,
  store: RefreshStore<S>,
  options: RefreshOptions<S>,
): Promise<RefreshOutcome<S>> {
  const grace = session.grace;
  if (grace && sameHash(grace.fromHash, presentedHash) && Date.now() < grace.until) {
    const successor = open(options.key, presented, grace.sealed);
    // Only while the successor is still current: once it has been rotated too, the old token is plain reuse.
    if (successor && sameHash(hashRefreshToken(successor), session.refreshHash)) {
      await options.authorize(session);
      return { kind: 'issued', session, token: successor };
    }
  }
  if (!session.previousHashes.some((h) => sameHash(h, presentedHash))) return { kind: 'invalid' };
  await store.revoke();
  return { kind: 'reused' };
}

function live<S extends RefreshFamily>(session: S | undefined): session is S {
  return !!session && !session.revoked && session.expiresAt > Math.floor(Date.now() / 1000);
}

/** The sealing key of the successor of `token`: needs the token's plaintext and the server key. */
function sealingKey(key: KeyObject, token: string): Buffer {
  return createHmac('sha256', key).update('refresh-successor\0').update(token).digest();
}

function seal(key: KeyObject, token: string, successor: string): string {
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', sealingKey(key, token), iv);
  const body = Buffer.concat([cipher.update(successor, 'utf8'), cipher.final()]);
  return Buffer.concat([iv, body, cipher.getAuthTag()]).toString('base64url');
}

/** The sealed successor, or undefined when `token` (or the server key) is not the one it was sealed with. */
function open(key: KeyObject, token: string, sealed: string): string | undefined {
  const raw = Buffer.from(sealed, 'base64url');
  if (raw.length < 12 + 16) return undefined;
  try {
    const decipher = createDecipheriv('aes-256-gcm', sealingKey(key, token), raw.subarray(0, 12));
    decipher.setAuthTag(raw.subarray(raw.length - 16));
    return Buffer.concat([decipher.update(raw.subarray(12, raw.length - 16)), decipher.final()]).toString('utf8');
  } catch {
    return undefined;
  }
}
