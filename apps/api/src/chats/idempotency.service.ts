import { Injectable } from '@nestjs/common';
import { DomainError } from '@lib/observability';
import { createHash } from 'node:crypto';
import { type IdempotencyRecord, IdempotencyRepository, type StoredResponse } from './idempotency.repository';

const IDEMPOTENCY_KEY = /^[\x21-\x7E]{1,128}$/;

/** The `Idempotency-Key` header: absent, or 1 to 128 printable characters (400 otherwise). */
export function idempotencyKeyOf(header: string | undefined): string | undefined {
  if (header === undefined) return undefined;
  if (!IDEMPOTENCY_KEY.test(header)) {
    throw new DomainError('invalid_input', 'the request is not valid', {
      errors: [{ field: 'Idempotency-Key', message: '1 to 128 printable characters' }],
    });
  }
  return header;
}

/** The key a run holds: its writes to it (record, complete, release) name its claim. */
export interface HeldKey {
  userId: string;
  key: string;
  claimId: string;
}

/** One POST route's idempotent request: what identifies its body, and what to do in each case. */
export interface IdempotentRequest<T> {
  /** Method, path and the body's fields: the same key with another fingerprint is refused (422). */
  fingerprint: unknown[];
  /** How long a run holds the key before a retry may take it over (its process died). */
  leaseMs: number;
  /** The request itself; `held` when it runs under a key (released again if it fails). */
  run(held: HeldKey | undefined): Promise<T>;
  /** The stored response of a finished run with the same key and body. */
  replay(response: StoredResponse): Promise<T>;
  /**
   * A run under way (or ended) with the same key and body that says what it started: answer with it, not 409.
   * `held` when that run's lease had lapsed (or was given up) and this request took the key over.
   */
  attach?(record: IdempotencyRecord, held: HeldKey | undefined): Promise<T> | undefined;
}

/**
 * Idempotency-Key handling for both POST routes (`POST /v1/chats`, `POST /v1/chats/{id}/messages`): one claim per
 * user and key, the body's fingerprint checked, a finished response replayed, a run in flight attached to where the
 * route can (else 409), a crashed run's lapsed lease taken over.
 */
@Injectable()
export class IdempotencyService {
  constructor(private readonly repository: IdempotencyRepository) {}

  async execute<T>(userId: string, key: string | undefined, request: IdempotentRequest<T>): Promise<T> {
    if (!key) return request.run(undefined);
    const bodyHash = createHash('sha256').update(JSON.stringify(request.fingerprint)).digest('base64url');
    const claim = await this.repository.claim(userId, key, bodyHash, request.leaseMs);
    if (claim.kind === 'replay') return request.replay(claim.response);
    if (claim.kind === 'mismatch')
      throw new DomainError('unprocessable', 'this Idempotency-Key was used with another request');
    const held: HeldKey | undefined =
      claim.kind === 'in_progress' ? undefined : { userId, key, claimId: claim.record.claimId };
    try {
      const attached = claim.kind === 'claimed' ? undefined : request.attach?.(claim.record, held);
      if (attached) return await attached;
      if (!held) throw new DomainError('conflict', 'a request with this Idempotency-Key is in progress');
      return await request.run(held);
    } catch (error) {
      if (!held) throw error;
      // Nothing final was written: a retry with the same key runs again at once.
      await this.repository.release(userId, key, held.claimId).catch(() => undefined);
      throw error;
    }
  }

  /** Gives the key up (a failed run): a retry takes it over at once. */
  release(held: HeldKey): Promise<void> {
    return this.repository.release(held.userId, held.key, held.claimId);
  }

  /** Stores the finished response of a run that holds `held`, for replays. */
  complete(held: HeldKey, response: StoredResponse): Promise<void> {
    return this.repository.complete(held.userId, held.key, response);
  }

  /** A transaction item recording the exchange's messages on the key (see IdempotencyRepository). */
  recordMessages(held: HeldKey, messages: { userMessageId: string; assistantMessageId: string }) {
    return this.repository.recordMessages(held.userId, held.key, held.claimId, messages);
  }
}
