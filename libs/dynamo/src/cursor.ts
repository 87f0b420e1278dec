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

export class InvalidCursorError extends Error {
  constructor() {
    super('invalid cursor');
    this.name = 'InvalidCursorError';
  }
}

const MAX_CURSOR_LENGTH = 2048;

/**
 * Opaque, tamper-proof pagination cursors: `base64url(payload).base64url(hmac)`. The MAC covers the
 * binding, so a cursor altered, or used for another tenant, list or caller, fails to decode.
 */
export class CursorCodec {
  constructor(private readonly key: KeyObject) {}

  encode(lastKey: DynamoKey | undefined, binding: CursorBinding): string | null {
    if (!lastKey) return null;
    const payload = Buffer.from(JSON.stringify(lastKey), 'utf8').toString('base64url');
    return `${payload}.${this.mac(payload, binding).toString('base64url')}`;
  }

  /** Returns the key to start after; throws InvalidCursorError for anything not issued for this binding. */
  decode(cursor: string, binding: CursorBinding): DynamoKey {
    if (cursor.length > MAX_CURSOR_LENGTH) throw new InvalidCursorError();
    const [payload, signature, extra] = cursor.split('.');
    if (!payload || !signature || extra !== undefined) throw new InvalidCursorError();
    // The signature is compared as text with the one we issue: base64url decoding ignores the unused bits of the
    // last character (and padding), so comparing decoded bytes would accept other spellings of the same MAC.
    const expected = Buffer.from(this.mac(payload, binding).toString('base64url'), 'utf8');
    const given = Buffer.from(signature, 'utf8');
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) throw new InvalidCursorError();
    try {
      const key = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as unknown;
      if (typeof key !== 'object' || key === null || Array.isArray(key)) throw new InvalidCursorError();
      return key as DynamoKey;
    } catch {
      throw new InvalidCursorError();
    }
  }

  private mac(payload: string, { tenant, list, caller }: CursorBinding): Buffer {
    return createHmac('sha256', this.key)
      .update(JSON.stringify([tenant, list, caller]))
      .update('\n')
      .update(payload)
      .digest();
  }
}
