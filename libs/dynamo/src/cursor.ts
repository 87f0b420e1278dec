import { createHmac, type KeyObject, timingSafeEqual } from 'node:crypto';

/** What a cursor is bound to: it is only valid for the same tenant, list and caller. */
export interface CursorBinding {
  /** Tenant id, or `platform` for operator lists. */
  tenant: string;
  /** The list, including its parameters: `chats`, `messages:<chatId>`, `tenants:active`. */
  list: string;
  /** The caller's id. */
  caller: string;
}

export type DynamoKey = Record<string, string | number>;

/** Facts a list states about itself when it issues a cursor (e.g. a chat's owner), signed with the key. */
export type CursorClaims = Readonly<Record<string, string>>;

/** How long a cursor reads further pages after it was issued. */
export const CURSOR_TTL_MS = 24 * 3600 * 1000;
/** How far ahead of this instance's clock another instance's may run. */
const CLOCK_SKEW_MS = 5 * 60 * 1000;

export interface CursorCodecOptions {
  ttlMs?: number;
  /** Epoch milliseconds. */
  now?: () => number;
}

/** The signed payload: the key to start after, when it was issued (epoch seconds), and the list's claims. */
interface CursorPayload {
  k: DynamoKey;
  t: number;
  c?: CursorClaims;
}

export class InvalidCursorError extends Error {
  constructor() {
    super('invalid cursor');
    this.name = 'InvalidCursorError';
  }
}

const MAX_CURSOR_LENGTH = 2048;

/**
 * Opaque, tamper-proof pagination cursors: `base64url(payload).base64url(hmac)`. The MAC covers the
 * binding, so a cursor altered, or used for another tenant, list or caller, fails to decode. A cursor expires
 * CURSOR_TTL_MS after it was issued, so that a cursor copied or kept is not a lasting way into a list; a list
 * that authorizes its pages must still check access on every page (the claims can carry what it needs).
 */
export class CursorCodec {
  private readonly ttlMs: number;
  private readonly now: () => number;

  constructor(
    private readonly key: KeyObject,
    options: CursorCodecOptions = {},
  ) {
    this.ttlMs = options.ttlMs ?? CURSOR_TTL_MS;
    this.now = options.now ?? Date.now;
  }

  encode(lastKey: DynamoKey | undefined, binding: CursorBinding, claims?: CursorClaims): string | null {
    if (!lastKey) return null;
    const body: CursorPayload = { k: lastKey, t: Math.floor(this.now() / 1000), ...(claims ? { c: claims } : {}) };
    const payload = Buffer.from(JSON.stringify(body), 'utf8').toString('base64url');
    return `${payload}.${this.mac(payload, binding).toString('base64url')}`;
  }

  /**
   * One page of a list behind cursors: `read` from the key `cursor` names (the list's start without one), `present`
   * its items, and the page's last key signed as the next cursor for the same binding (null after the last page).
   * Throws InvalidCursorError for a cursor not issued for this binding.
   */
  async page<T, R>(
    cursor: string | undefined,
    binding: CursorBinding,
    read: (start: DynamoKey | undefined) => Promise<{ items: T[]; lastKey: DynamoKey | undefined }>,
    present: (items: T[]) => R[],
  ): Promise<{ items: R[]; nextCursor: string | null }> {
    const page = await read(cursor ? this.decode(cursor, binding) : undefined);
    return { items: present(page.items), nextCursor: this.encode(page.lastKey, binding) };
  }

  /** Returns the key to start after; throws InvalidCursorError for anything not issued for this binding. */
  decode(cursor: string, binding: CursorBinding): DynamoKey {
    return this.open(cursor, binding).key;
  }

  /**
   * The key to start after and the claims the cursor was issued with; throws InvalidCursorError for anything not
   * issued for this binding, or issued longer ago than the cursor lifetime.
   */
  open(cursor: string, binding: CursorBinding): { key: DynamoKey; claims: CursorClaims } {
    if (cursor.length > MAX_CURSOR_LENGTH) throw new InvalidCursorError();
    const [payload, signature, extra] = cursor.split('.');
    if (!payload || !signature || extra !== undefined) throw new InvalidCursorError();
    // The signature is compared as text with the one we issue: base64url decoding ignores the unused bits of the
    // last character (and padding), so comparing decoded bytes would accept other spellings of the same MAC.
    const expected = Buffer.from(this.mac(payload, binding).toString('base64url'), 'utf8');
    const given = Buffer.from(signature, 'utf8');
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) throw new InvalidCursorError();
    let body: unknown;
    try {
      body = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8'));
    } catch {
      throw new InvalidCursorError();
    }
    if (!isPayload(body)) throw new InvalidCursorError();
    const age = this.now() - body.t * 1000;
    if (!(age <= this.ttlMs && age >= -CLOCK_SKEW_MS)) throw new InvalidCursorError();
    return { key: body.k, claims: body.c ?? {} };
  }

  private mac(payload: string, { tenant, list, caller }: CursorBinding): Buffer {
    return createHmac('sha256', this.key)
      .update(JSON.stringify([tenant, list, caller]))
      .update('\n')
      .update(payload)
      .digest();
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isPayload(value: unknown): value is CursorPayload {
  if (!isRecord(value) || !isRecord(value.k) || typeof value.t !== 'number') return false;
  return value.c === undefined || (isRecord(value.c) && Object.values(value.c).every((v) => typeof v === 'string'));
}
