import { Injectable } from '@nestjs/common';
import { DynamoClients, Entities } from '@lib/dynamo';
import { REFUSED, TenantRepository, type TransactItem } from '@lib/tenancy';
import { ulid } from 'ulid';

export const IDEMPOTENCY_TTL_SECONDS = 24 * 3600;

export interface StoredResponse {
  status: number;
  body: unknown;
}

export interface IdempotencyRecord {
  status: 'in_progress' | 'done';
  /** Who holds the lease: a retried claim (lost answer) recognises its own write by it. */
  claimId: string;
  bodyHash: string;
  /** Epoch ms until which the run that holds the record owns it; a crashed run's lease runs out. */
  leaseUntil: number;
  /**
   * The exchange's messages, written with them (same transaction): a retry attaches to that exchange's
   * generation (docs/streaming.md) instead of starting another.
   */
  userMessageId?: string;
  assistantMessageId?: string;
  response?: StoredResponse;
  expiresAt: number;
}

export type Claim =
  | { kind: 'claimed'; record: IdempotencyRecord }
  | { kind: 'resumed'; record: IdempotencyRecord }
  | { kind: 'replay'; response: StoredResponse }
  | { kind: 'in_progress'; record: IdempotencyRecord }
  | { kind: 'mismatch' };

/**
 * The condition of every write a run makes to its key while it works (record the messages, release): the run with `claimId` still holds the key, and it is still in progress. A run whose lapsed lease
 * another run took over is refused. `names` and `values` are the write's own.
 */
function whileHeldBy(claimId: string, names: Record<string, string>, values: Record<string, unknown>) {
  return {
    ConditionExpression: 'claimId = :mine AND #s = :inProgress',
    ExpressionAttributeNames: { ...names, '#s': 'status' },
    ExpressionAttributeValues: { ...values, ':mine': claimId, ':inProgress': 'in_progress' },
  };
}

/** Idempotency records (one per user and Idempotency-Key, 24 h TTL) in the current tenant's table. */
@Injectable()
export class IdempotencyRepository extends TenantRepository {
  constructor(clients: DynamoClients) {
    super(clients);
  }

  /**
   * Takes the key for this run. Same key and body: replay a finished response, 409 while another run holds a
   * live lease, resume a run whose lease ran out (crash, provider failure). Another body: mismatch.
   */
  async claim(userId: string, idempotencyKey: string, bodyHash: string, leaseMs: number): Promise<Claim> {
    const now = Date.now();
    const record: IdempotencyRecord = {
      status: 'in_progress',
      claimId: ulid(),
      bodyHash,
      leaseUntil: now + leaseMs,
      expiresAt: Math.floor(now / 1000) + IDEMPOTENCY_TTL_SECONDS,
    };
    const key = Entities.idempotencyKey.key(userId, idempotencyKey);
    const put = await this.table.put(
      { ...key, ...record },
      {
        ConditionExpression: 'attribute_not_exists(pk) OR expiresAt < :nowS',
        ExpressionAttributeValues: { ':nowS': Math.floor(now / 1000) },
      },
    );
    if (put !== REFUSED) return { kind: 'claimed', record };
    const existing = await this.table.get<IdempotencyRecord>(key);
    if (!existing) return this.claim(userId, idempotencyKey, bodyHash, leaseMs);
    if (existing.claimId === record.claimId) return { kind: 'claimed', record };
    if (existing.bodyHash !== bodyHash) return { kind: 'mismatch' };
    if (existing.status === 'done' && existing.response) return { kind: 'replay', response: existing.response };
    if (existing.leaseUntil > now) return { kind: 'in_progress', record: existing };
    // Take over the lapsed lease under this run's claim id (the renewals of the run that lost it then fail).
    const takenOver = await this.table.update(key, {
      UpdateExpression: 'SET leaseUntil = :new, claimId = :mine',
      ConditionExpression: 'claimId = :old AND leaseUntil = :oldLease AND #s = :inProgress',
      ExpressionAttributeNames: { '#s': 'status' },
      ExpressionAttributeValues: {
        ':new': now + leaseMs,
        ':mine': record.claimId,
        ':old': existing.claimId,
        ':oldLease': existing.leaseUntil,
        ':inProgress': 'in_progress',
      },
    });
    if (takenOver !== REFUSED) {
      return { kind: 'resumed', record: { ...existing, claimId: record.claimId, leaseUntil: now + leaseMs } };
    }
    // The takeover's answer may have been lost and the SDK retried it: then the record carries our claim id.
    const current = await this.table.get<IdempotencyRecord>(key);
    if (current?.claimId === record.claimId) return { kind: 'resumed', record: current };
    return { kind: 'in_progress', record: current ?? existing };
  }

  /**
   * A transaction item that records the exchange's messages on the key, so that a retry attaches to them; it
   * holds only while `claimId` owns the key. Written in the same transaction as the messages themselves: a crash
   * can not leave them stored and the key unaware of them.
   */
  recordMessages(
    userId: string,
    idempotencyKey: string,
    claimId: string,
    messages: { userMessageId: string; assistantMessageId: string },
  ): TransactItem {
    return this.table.transactItem({
      update: Entities.idempotencyKey.key(userId, idempotencyKey),
      spec: {
        UpdateExpression: 'SET userMessageId = :u, assistantMessageId = :a',
        ...whileHeldBy(claimId, {}, { ':u': messages.userMessageId, ':a': messages.assistantMessageId }),
      },
    });
  }

  /** Stores the finished response for replays (a run without a lease, such as POST /v1/chats). */
  async complete(userId: string, idempotencyKey: string, response: StoredResponse): Promise<void> {
    await this.table.update(Entities.idempotencyKey.key(userId, idempotencyKey), {
      UpdateExpression: 'SET #s = :done, #r = :r',
      ExpressionAttributeNames: { '#s': 'status', '#r': 'response' },
      ExpressionAttributeValues: { ':done': 'done', ':r': response },
    });
  }

  /**
   * Gives the key up so that a retry can resume at once (after a failure that wrote nothing final); only while
   * `claimId` still holds it (a run whose lease was taken over must not end the new run's lease).
   */
  async release(userId: string, idempotencyKey: string, claimId: string): Promise<void> {
    // Refused: another run holds the key now, and its lease is not ours to end.
    await this.table.update(Entities.idempotencyKey.key(userId, idempotencyKey), {
      UpdateExpression: 'SET leaseUntil = :zero',
      ...whileHeldBy(claimId, {}, { ':zero': 0 }),
    });
  }
}
