import { Injectable } from '@nestjs/common';
import { DynamoClients, type DynamoKey, Entities, type ItemKey, retryConflicts, type UsageScope } from '@lib/dynamo';
import { DomainError } from '@lib/observability';
import { REFUSED, TenantRepository, type TenantTable, type TransactItem, type TxOp } from '@lib/tenancy';
import type { ChatRecord, MessageRecord } from './chat.types';

export type { UsageScope } from '@lib/dynamo';

/** The real usage of an exchange, replacing the tokens reserved for it (see QuotaReservation). */
export interface UsageDelta {
  month: string;
  userId: string;
  inputTokens: number;
  outputTokens: number;
  /** The tokens `reserve` set aside for this exchange (both scopes), settled by this write. */
  reserved: number;
  /** 1, or 0 for an exchange whose provider failed (it gives its reservation back, and is not counted). */
  requests: number;
}

/** The month's counters (the tenant's and the user's) moved by one exchange, for its final transaction. */
export function usageSettlement<F>(usage: UsageDelta): Array<TxOp<F>> {
  return (['TOTAL', Entities.usage.userScope(usage.userId)] as const).map((scope) => ({
    update: Entities.usage.key(usage.month, scope),
    spec: {
      // The real usage replaces the reservation in `charged` (see `reserve`).
      UpdateExpression: 'ADD inputTokens :i, outputTokens :o, requests :n, charged :c, reserved :r',
      ExpressionAttributeValues: {
        ':i': usage.inputTokens,
        ':o': usage.outputTokens,
        ':n': usage.requests,
        ':c': usage.inputTokens + usage.outputTokens - usage.reserved,
        ':r': -usage.reserved,
      },
    },
  }));
}

/** Chats and messages of the current tenant. A chat's messages share its partition (`CHAT#<id>`). */
@Injectable()
export class ChatsRepository extends TenantRepository {
  constructor(clients: DynamoClients) {
    super(clients);
  }

  async create(chat: ChatRecord): Promise<void> {
    const written = await this.table.put(
      { ...Entities.chat.key(chat.id), ...Entities.chat.index(chat.ownerId, chat.updatedAt, chat.id), ...chat },
      { ConditionExpression: 'attribute_not_exists(pk)' },
    );
    if (written !== REFUSED) return;
    // The SDK retried a Put whose first answer was lost: the item there is our own write (same new id).
    const existing = await this.get(chat.id);
    if (existing?.ownerId !== chat.ownerId || existing.createdAt !== chat.createdAt) {
      throw new Error(`chat ${chat.id} exists and is not this write's`);
    }
  }

  async get(id: string): Promise<ChatRecord | undefined> {
    return this.table.get<ChatRecord>(Entities.chat.key(id));
  }

  async getMessage(chatId: string, messageId: string): Promise<MessageRecord | undefined> {
    return this.table.get<MessageRecord>(Entities.message.key(chatId, messageId));
  }

  /** The owner's chats, most recently updated first. */
  async listByOwner(ownerId: string, limit: number, start: DynamoKey | undefined) {
    return this.table.query<ChatRecord>(Entities.chat.byOwner(ownerId), { limit, start });
  }

  /**
   * The hot read, one Query: without `after`, the chat item (`CHAT` sorts before `MSG#…`) and the first
   * `limit` messages; with `after` (from a signed cursor), the next `limit` messages.
   */
  async page(chatId: string, limit: number, after: string | undefined) {
    const page = await this.table.query<(ChatRecord | MessageRecord) & { sk: string }>(
      Entities.message.page(chatId, after),
      { limit: after ? limit : limit + 1 },
    );
    const items = page.items;
    const chat =
      !after && items[0] && Entities.message.isChatItem(items[0]) ? (items.shift() as ChatRecord) : undefined;
    return {
      chat,
      messages: items as Array<MessageRecord & { sk: string }>,
      more: Boolean(page.lastKey),
    };
  }

  /** The last `count` messages, oldest first (for the prompt). */
  async recent(chatId: string, count: number): Promise<MessageRecord[]> {
    const page = await this.table.query<MessageRecord>(Entities.message.newest(chatId), { limit: count });
    return page.items.reverse();
  }

  /** Title / system prompt at `expectedVersion`; undefined when the version moved on (or the chat is gone). */
  async update(
    chat: ChatRecord,
    changes: Partial<Pick<ChatRecord, 'title' | 'systemPrompt'>>,
    updatedAt: string,
  ): Promise<ChatRecord | undefined> {
    const names: Record<string, string> = { '#version': 'version' };
    const values: Record<string, unknown> = {
      ':v': chat.version,
      ':one': 1,
      ':u': updatedAt,
      ':g': Entities.chat.index(chat.ownerId, updatedAt, chat.id).gsi1sk,
    };
    const sets = ['updatedAt = :u', 'gsi1sk = :g'];
    Object.entries(changes).forEach(([field, value], i) => {
      names[`#f${i}`] = field;
      values[`:f${i}`] = value;
      sets.push(`#f${i} = :f${i}`);
    });
    const updated = await this.table.update<ChatRecord>(Entities.chat.key(chat.id), {
      UpdateExpression: `SET ${sets.join(', ')} ADD #version :one`,
      ConditionExpression: '#version = :v',
      ExpressionAttributeNames: names,
      ExpressionAttributeValues: values,
    });
    if (updated !== REFUSED) return updated;
    // A retried update whose first answer was lost fails its own version check: recognise our own write.
    const current = await this.get(chat.id);
    return current?.version === chat.version + 1 && current.updatedAt === updatedAt ? current : undefined;
  }

  /**
   * Appends messages and bumps the chat (messageCount, updatedAt, list position, retention) in one transaction,
   * with `extra` items (a generation's state) and `keyWrite`, the exchange's Idempotency-Key (409 when another run
   * took the key over). `replaces`: a failed reply removed in the same transaction (a keyed retry's new reply takes
   * its place). False when the chat is gone.
   */
  async append(
    chat: ChatRecord,
    messages: MessageRecord[],
    extra: Array<TxOp<never>> = [],
    keyWrite?: TransactItem,
    replaces?: string,
  ): Promise<boolean> {
    type Refusal = 'already_applied' | 'chat_gone' | 'key_taken_over';
    const last = messages[messages.length - 1];
    const ops: Array<TxOp<Refusal>> = [
      ...(replaces
        ? [
            {
              delete: Entities.message.key(chat.id, replaces),
              when: {
                ConditionExpression: '#s = :failed',
                ExpressionAttributeNames: { '#s': 'status' },
                ExpressionAttributeValues: { ':failed': 'failed' },
              },
              refusal: 'key_taken_over' as const,
            },
          ]
        : []),
      ...messages.map(
        (message): TxOp<Refusal> => ({
          put: { ...Entities.message.key(chat.id, message.id), ...message },
          when: { ConditionExpression: 'attribute_not_exists(pk)' },
          refusal: 'already_applied',
        }),
      ),
      {
        update: Entities.chat.key(chat.id),
        spec: {
          UpdateExpression: `SET updatedAt = :u, gsi1sk = :g${last.expiresAt ? ', expiresAt = :e' : ''} ADD messageCount :n`,
          ConditionExpression: 'attribute_exists(pk)',
          ExpressionAttributeValues: {
            ':u': last.createdAt,
            ':g': Entities.chat.index(chat.ownerId, last.createdAt, chat.id).gsi1sk,
            ':n': messages.length - (replaces ? 1 : 0),
            ...(last.expiresAt ? { ':e': last.expiresAt } : {}),
          },
        },
        refusal: 'chat_gone',
      },
      ...extra,
    ];
    // A write to the exchange's Idempotency-Key in the same transaction; it fails when another run has taken the
    // key over.
    if (keyWrite) ops.push({ foreign: keyWrite, refusal: 'key_taken_over' });
    // Concurrent appends to one chat conflict on the chat item; the transaction is retried (ADD keeps the count
    // exact).
    const result = await this.table.transact(ops);
    // A refused Put means the message is already there: this transaction was applied by an earlier attempt whose
    // answer was lost (the SDK retried it), and its other items with it. Checked first: the key's condition then
    // fails on our own write.
    if (result.committed || result.refused.includes('already_applied')) return true;
    if (result.refused.includes('key_taken_over')) {
      throw new DomainError('conflict', 'a retry with the same Idempotency-Key took this exchange over');
    }
    return false;
  }

  /** Deletes every chat `ownerId` owns, with its messages (the owner's index read for keys only, page by page). */
  async deleteAllOwnedBy(ownerId: string): Promise<void> {
    for await (const chat of this.table.all<ItemKey>({ ...Entities.chat.byOwner(ownerId), keysOnly: true })) {
      await this.delete(Entities.chat.idOf(chat));
    }
  }

  /** Deletes the chat and every message (batches of 25, unprocessed items retried). */
  async delete(chatId: string): Promise<number> {
    return this.table.deleteAll(Entities.chat.partition(chatId));
  }

  /**
   * Sets `tokens` aside on the month's counter of `scope` before an exchange runs, atomically with the quota
   * check: the counter's `charged` (settled tokens plus reservations of exchanges in flight) must be below
   * `quota` (null: no check). A reservation is settled by `append` (the real usage replaces it) or given back
   * by `release`. False when the quota is used up.
   *
   * Admitting while `charged` is below the quota, whatever the size of the reservation, keeps the rule of one
   * request at a time (a request that finds tokens left runs), and bounds concurrent ones: once the
   * reservations in flight reach the quota, everyone else waits for them to settle.
   */
  async reserve(month: string, scope: UsageScope, tokens: number, quota: number | null): Promise<boolean> {
    const key = Entities.usage.key(month, scope);
    for (let attempt = 1; attempt <= 4; attempt++) {
      const reserved = await this.updateRetryingConflicts(key, {
        UpdateExpression: 'ADD charged :t, reserved :t',
        // A counter written before reservations existed has tokens but no `charged`: it is set up below.
        ConditionExpression:
          quota === null
            ? 'attribute_exists(charged) OR attribute_not_exists(inputTokens)'
            : 'charged < :q OR (attribute_not_exists(charged) AND attribute_not_exists(inputTokens))',
        ExpressionAttributeValues: { ':t': tokens, ...(quota === null ? {} : { ':q': quota }) },
      });
      if (reserved !== REFUSED) return true;
      const counter = await this.table.get<Record<string, unknown>>(key);
      const charged = counter?.charged as number | undefined;
      if (charged !== undefined) {
        if (quota !== null && charged >= quota) return false;
        continue; // reservations settled in between: check again
      }
      const settled = Number(counter?.inputTokens ?? 0) + Number(counter?.outputTokens ?? 0);
      if (quota !== null && settled >= quota) return false;
      // Set up (or settled) concurrently when refused: check again.
      await this.updateRetryingConflicts(key, {
        UpdateExpression: 'SET charged = :s',
        ConditionExpression: 'attribute_not_exists(charged) AND requests = :n',
        ExpressionAttributeValues: { ':s': settled, ':n': counter?.requests ?? 0 },
      });
    }
    throw new DomainError('unavailable', 'too many concurrent changes; retry', { retryAfterSeconds: 1 });
  }

  /** Gives a reservation back (the exchange failed before its usage was stored). */
  async release(month: string, scope: UsageScope, tokens: number): Promise<void> {
    await this.updateRetryingConflicts(Entities.usage.key(month, scope), {
      UpdateExpression: 'ADD charged :t, reserved :t',
      ExpressionAttributeValues: { ':t': -tokens },
    });
  }

  /** An UpdateItem on a usage counter, sent again (backing off) while a transaction holds the item. */
  private updateRetryingConflicts(key: ItemKey, spec: Parameters<TenantTable['update']>[1]): Promise<unknown> {
    return retryConflicts(() => this.table.update(key, spec));
  }
}
