import { Injectable } from '@nestjs/common';
import { setTimeout as sleep } from 'node:timers/promises';
import { GetCommand, PutCommand, QueryCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { DynamoClients, type DynamoKey, isConditionalCheckFailed, TenantKeys } from '@lib/dynamo';
import { DomainError } from '@lib/observability';
import { TenantRepository, type TransactItem } from '@lib/tenancy';
import type { ChatRecord, MessageRecord } from './chat.types';

export interface UsageDelta {
  month: string;
  userId: string;
  inputTokens: number;
  outputTokens: number;
  /** The tokens `reserve` set aside for this exchange (both scopes), settled by this write. */
  reserved: number;
}

export type UsageScope = 'TOTAL' | `USER#${string}`;

/** DynamoDB refuses a write to an item that a transaction in flight holds; it is safe to send again. */
const isTransactionConflict = (error: unknown) => (error as { name?: string })?.name === 'TransactionConflictException';

/** Chats and messages of the current tenant. A chat's messages share its partition (`CHAT#<id>`). */
@Injectable()
export class ChatsRepository extends TenantRepository {
  constructor(clients: DynamoClients) {
    super(clients);
  }

  async create(chat: ChatRecord): Promise<void> {
    try {
      await this.doc.send(
        new PutCommand({
          TableName: this.tableName,
          Item: {
            ...TenantKeys.chat(chat.id),
            ...TenantKeys.chatIndex(chat.ownerId, chat.updatedAt, chat.id),
            ...chat,
          },
          ConditionExpression: 'attribute_not_exists(pk)',
        }),
      );
    } catch (error) {
      // The SDK retried a Put whose first answer was lost: the item there is our own write (same new id).
      if (!isConditionalCheckFailed(error)) throw error;
      const existing = await this.get(chat.id);
      if (existing?.ownerId !== chat.ownerId || existing.createdAt !== chat.createdAt) throw error;
    }
  }

  async get(id: string): Promise<ChatRecord | undefined> {
    const { Item } = await this.doc.send(
      new GetCommand({ TableName: this.tableName, Key: TenantKeys.chat(id), ConsistentRead: true }),
    );
    return Item as ChatRecord | undefined;
  }

  async getMessage(chatId: string, messageId: string): Promise<MessageRecord | undefined> {
    const { Item } = await this.doc.send(
      new GetCommand({ TableName: this.tableName, Key: TenantKeys.message(chatId, messageId), ConsistentRead: true }),
    );
    return Item as MessageRecord | undefined;
  }

  /** The owner's chats, most recently updated first (gsi1 `USER#<owner>#CHATS`). */
  async listByOwner(ownerId: string, limit: number, start: DynamoKey | undefined) {
    const page = await this.doc.send(
      new QueryCommand({
        TableName: this.tableName,
        IndexName: 'gsi1',
        KeyConditionExpression: 'gsi1pk = :p',
        ExpressionAttributeValues: { ':p': TenantKeys.chatIndex(ownerId, '', '').gsi1pk },
        ScanIndexForward: false,
        Limit: limit,
        ExclusiveStartKey: start,
      }),
    );
    return { items: (page.Items ?? []) as ChatRecord[], lastKey: page.LastEvaluatedKey as DynamoKey | undefined };
  }

  /**
   * The hot read, one Query: without `after`, the chat item (`CHAT` sorts before `MSG#…`) and the first
   * `limit` messages; with `after` (from a signed cursor), the next `limit` messages.
   */
  async page(chatId: string, limit: number, after: string | undefined) {
    const { pk } = TenantKeys.chat(chatId);
    const page = await this.query({
      TableName: this.tableName,
      KeyConditionExpression: after ? 'pk = :pk AND sk > :after' : 'pk = :pk AND sk >= :chat',
      ExpressionAttributeValues: after ? { ':pk': pk, ':after': after } : { ':pk': pk, ':chat': 'CHAT' },
      Limit: after ? limit : limit + 1,
    });
    const items = page.items as unknown as Array<(ChatRecord | MessageRecord) & { sk: string }>;
    const chat = !after && items[0]?.sk === 'CHAT' ? (items.shift() as unknown as ChatRecord) : undefined;
    return {
      chat,
      messages: items as unknown as Array<MessageRecord & { sk: string }>,
      more: Boolean(page.lastKey),
    };
  }

  /** The last `count` messages, oldest first (for the prompt). */
  async recent(chatId: string, count: number): Promise<MessageRecord[]> {
    const page = await this.query({
      TableName: this.tableName,
      KeyConditionExpression: 'pk = :pk AND begins_with(sk, :msg)',
      ExpressionAttributeValues: { ':pk': TenantKeys.chat(chatId).pk, ':msg': 'MSG#' },
      ScanIndexForward: false,
      Limit: count,
    });
    return (page.items as unknown as MessageRecord[]).reverse();
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
      ':g': TenantKeys.chatIndex(chat.ownerId, updatedAt, chat.id).gsi1sk,
    };
    const sets = ['updatedAt = :u', 'gsi1sk = :g'];
    Object.entries(changes).forEach(([field, value], i) => {
      names[`#f${i}`] = field;
      values[`:f${i}`] = value;
      sets.push(`#f${i} = :f${i}`);
    });
    try {
      const result = await this.doc.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: TenantKeys.chat(chat.id),
          UpdateExpression: `SET ${sets.join(', ')} ADD #version :one`,
          ConditionExpression: '#version = :v',
          ExpressionAttributeNames: names,
          ExpressionAttributeValues: values,
          ReturnValues: 'ALL_NEW',
        }),
      );
      return result.Attributes as ChatRecord;
    } catch (error) {
      if (!isConditionalCheckFailed(error)) throw error;
      // A retried update whose first answer was lost fails its own version check: recognise our own write.
      const current = await this.get(chat.id);
      return current?.version === chat.version + 1 && current.updatedAt === updatedAt ? current : undefined;
    }
  }

  /**
   * Appends a message and bumps the chat (messageCount, updatedAt, list position, retention) in one
   * transaction; with `usage`, the month's counters move in the same transaction, and with `keyWrite` the
   * exchange's Idempotency-Key (409 when another run took the key over). False when the chat is gone.
   */
  async append(
    chat: ChatRecord,
    message: MessageRecord,
    usage?: UsageDelta,
    keyWrite?: TransactItem,
  ): Promise<boolean> {
    const items: TransactItem[] = [
      {
        Put: {
          TableName: this.tableName,
          Item: { ...TenantKeys.message(chat.id, message.id), ...message },
          ConditionExpression: 'attribute_not_exists(pk)',
        },
      },
      {
        Update: {
          TableName: this.tableName,
          Key: TenantKeys.chat(chat.id),
          UpdateExpression: `SET updatedAt = :u, gsi1sk = :g${message.expiresAt ? ', expiresAt = :e' : ''} ADD messageCount :one`,
          ConditionExpression: 'attribute_exists(pk)',
          ExpressionAttributeValues: {
            ':u': message.createdAt,
            ':g': TenantKeys.chatIndex(chat.ownerId, message.createdAt, chat.id).gsi1sk,
            ':one': 1,
            ...(message.expiresAt ? { ':e': message.expiresAt } : {}),
          },
        },
      },
    ];
    if (usage) {
      for (const scope of ['TOTAL', `USER#${usage.userId}`] as const) {
        items.push({
          Update: {
            TableName: this.tableName,
            Key: TenantKeys.usage(usage.month, scope),
            // The real usage replaces the reservation in `charged` (see `reserve`).
            UpdateExpression: 'ADD inputTokens :i, outputTokens :o, requests :one, charged :c, reserved :r',
            ExpressionAttributeValues: {
              ':i': usage.inputTokens,
              ':o': usage.outputTokens,
              ':one': 1,
              ':c': usage.inputTokens + usage.outputTokens - usage.reserved,
              ':r': -usage.reserved,
            },
          },
        });
      }
    }
    // A write to the exchange's Idempotency-Key in the same transaction; it fails when another run has taken the
    // key over.
    if (keyWrite) items.push(keyWrite);
    // Concurrent appends to one chat conflict on the chat item; transactWrite retries them (ADD keeps the
    // count exact).
    const codes = await this.transactWrite(items);
    // A refused Put means the message is already there: this transaction was applied by an earlier attempt whose
    // answer was lost (the SDK retried it), and its other items with it. Checked first: the key's condition then
    // fails on our own write.
    if (!codes || codes[0] === 'ConditionalCheckFailed') return true;
    if (keyWrite && codes.at(-1) === 'ConditionalCheckFailed') {
      throw new DomainError('conflict', 'a retry with the same Idempotency-Key took this exchange over');
    }
    return false;
  }

  /** Deletes the chat and every message (batches of 25, unprocessed items retried). */
  async delete(chatId: string): Promise<number> {
    return this.deletePartition(TenantKeys.chat(chatId).pk);
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
    const Key = TenantKeys.usage(month, scope);
    for (let attempt = 1; attempt <= 4; attempt++) {
      try {
        await this.sendRetryingConflicts(
          new UpdateCommand({
            TableName: this.tableName,
            Key,
            UpdateExpression: 'ADD charged :t, reserved :t',
            // A counter written before reservations existed has tokens but no `charged`: it is set up below.
            ConditionExpression:
              quota === null
                ? 'attribute_exists(charged) OR attribute_not_exists(inputTokens)'
                : 'charged < :q OR (attribute_not_exists(charged) AND attribute_not_exists(inputTokens))',
            ExpressionAttributeValues: { ':t': tokens, ...(quota === null ? {} : { ':q': quota }) },
          }),
        );
        return true;
      } catch (error) {
        if (!isConditionalCheckFailed(error)) throw error;
      }
      const { Item } = await this.doc.send(new GetCommand({ TableName: this.tableName, Key, ConsistentRead: true }));
      const charged = Item?.charged as number | undefined;
      if (charged !== undefined) {
        if (quota !== null && charged >= quota) return false;
        continue; // reservations settled in between: check again
      }
      const settled = Number(Item?.inputTokens ?? 0) + Number(Item?.outputTokens ?? 0);
      if (quota !== null && settled >= quota) return false;
      try {
        await this.sendRetryingConflicts(
          new UpdateCommand({
            TableName: this.tableName,
            Key,
            UpdateExpression: 'SET charged = :s',
            ConditionExpression: 'attribute_not_exists(charged) AND requests = :n',
            ExpressionAttributeValues: { ':s': settled, ':n': Item?.requests ?? 0 },
          }),
        );
      } catch (error) {
        if (!isConditionalCheckFailed(error)) throw error; // set up (or settled) concurrently: check again
      }
    }
    throw new DomainError('unavailable', 'too many concurrent changes; retry', { retryAfterSeconds: 1 });
  }

  /** Gives a reservation back (the exchange failed before its usage was stored). */
  async release(month: string, scope: UsageScope, tokens: number): Promise<void> {
    await this.sendRetryingConflicts(
      new UpdateCommand({
        TableName: this.tableName,
        Key: TenantKeys.usage(month, scope),
        UpdateExpression: 'ADD charged :t, reserved :t',
        ExpressionAttributeValues: { ':t': -tokens },
      }),
    );
  }

  /** An UpdateItem on a usage counter, sent again (backing off) while a transaction holds the item. */
  private async sendRetryingConflicts(command: UpdateCommand): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        await this.doc.send(command);
        return;
      } catch (error) {
        if (!isTransactionConflict(error) || attempt >= 8) throw error;
        await sleep(Math.min(500, 10 * 2 ** attempt) * Math.random());
      }
    }
  }
}
