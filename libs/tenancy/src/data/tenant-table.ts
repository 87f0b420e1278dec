import { type AttributeValue, BatchWriteItemCommand, ScanCommand } from '@aws-sdk/client-dynamodb';
import {
  BatchGetCommand,
  BatchWriteCommand,
  DeleteCommand,
  type DeleteCommandInput,
  type GetCommandInput,
  PutCommand,
  type PutCommandInput,
  type QueryCommandInput,
  UpdateCommand,
  type UpdateCommandInput,
} from '@aws-sdk/lib-dynamodb';
import {
  cancellationCodes,
  type DynamoClients,
  type DynamoKey,
  isConditionalCheckFailed,
  isTransactionCanceled,
  type ItemKey,
  type QuerySpec,
  type TransactItem,
  transactWrite,
} from '@lib/dynamo';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ResolvedTenant } from '../request-context';

/** A write's condition and the values it names, without the table or the key (the handle adds them). */
type Conditional = Pick<
  PutCommandInput,
  'ConditionExpression' | 'ExpressionAttributeNames' | 'ExpressionAttributeValues'
>;
type UpdateSpec = Omit<UpdateCommandInput, 'TableName' | 'Key' | 'ReturnValues'> & { UpdateExpression: string };

/** A write refused by its condition (not an error: a typed outcome the caller decides on). */
export const REFUSED = Symbol('refused');
export type Refused = typeof REFUSED;

/** One item of a transaction on this tenant's table, and what its refusal means to the caller (`refusal`). */
export type TxOp<F> =
  | { put: Record<string, unknown> & ItemKey; when?: Conditional; refusal?: F }
  | { update: ItemKey; spec: UpdateSpec; refusal?: F }
  | { delete: ItemKey; when?: Conditional; refusal?: F }
  | { check: ItemKey; when: Conditional & { ConditionExpression: string }; refusal?: F }
  /** An item of another table that must commit with this transaction (a change-feed record). */
  | { foreign: TransactItem; refusal?: F };

/** A transaction's outcome: committed, or the meanings of the items whose condition refused it. */
export type TxResult<F> = { committed: true } | { committed: false; refused: F[] };

export interface Page<T> {
  items: T[];
  lastKey: DynamoKey | undefined;
}

/** An item as DynamoDB's low-level API carries it (typed attribute values): what exports read and imports write. */
export type RawItem = Record<string, AttributeValue>;

/**
 * What an item of a tenant table is, for exports: the kinds that are the tenant's data, and `null` for what an
 * export leaves out (sessions, password-reset tokens, idempotency records, replies being generated: credentials
 * and transient state that a restored tenant must not carry). A key this list does not know is `other`: carried,
 * so that an export never silently loses data a newer entity added.
 */
export type ExportKind = 'user' | 'email' | 'role' | 'roleName' | 'chat' | 'message' | 'usage' | 'apiKey' | 'other';

export function exportKindOf(pk: string, sk: string): ExportKind | null {
  if (pk.startsWith('USER#')) {
    if (sk === 'USER') return 'user';
    if (sk.startsWith('SESSION#') || sk.startsWith('RESET#')) return null;
    return 'other';
  }
  if (pk.startsWith('CHAT#')) return sk === 'CHAT' ? 'chat' : sk.startsWith('MSG#') ? 'message' : 'other';
  if (pk.startsWith('GEN#') || pk.startsWith('IDEMP#')) return null;
  if (pk.startsWith('EMAIL#')) return 'email';
  if (pk.startsWith('ROLENAME#')) return 'roleName';
  if (pk.startsWith('ROLE#')) return 'role';
  if (pk.startsWith('USAGE#')) return 'usage';
  if (pk.startsWith('APIKEY#')) return 'apiKey';
  return 'other';
}

const BATCH_GET = 100;
const BATCH_WRITE = 25;
const BATCH_RETRIES = 10;

/**
 * One tenant's table, and the only way to reach it: a handle bound to a tenant (the request's, through
 * `TenantRepository`, or an explicit one for background work), so that no caller ever names a table. Reads and
 * writes take keys from the entity declarations (`tenant-entities.ts`) and return typed outcomes: a write refused
 * by its condition is `REFUSED`, a transaction says which of its items refused it and what that means, never an
 * error whose text is read.
 */
export class TenantTable {
  constructor(
    private readonly clients: DynamoClients,
    readonly tenant: Pick<ResolvedTenant, 'id' | 'tableName'>,
  ) {}

  private get name(): string {
    return this.tenant.tableName;
  }

  /** One item, strongly consistent, on the cached-stack client (the per-request lookups). */
  async get<T>(key: ItemKey, options: Omit<GetCommandInput, 'TableName' | 'Key'> = {}): Promise<T | undefined> {
    const item = await this.clients.get({ ConsistentRead: true, ...options, TableName: this.name, Key: key });
    return item as T | undefined;
  }

  /** Items by key, strongly consistent, in batches of 100 (unprocessed keys retried); order not kept. */
  async getMany<T>(keys: ItemKey[]): Promise<T[]> {
    const items: T[] = [];
    for (let i = 0; i < keys.length; i += BATCH_GET) {
      await untilProcessed<Record<string, unknown>>(keys.slice(i, i + BATCH_GET), async (pending) => {
        const result = await this.clients.doc.send(
          new BatchGetCommand({ RequestItems: { [this.name]: { Keys: pending, ConsistentRead: true } } }),
        );
        items.push(...((result.Responses?.[this.name] ?? []) as T[]));
        return result.UnprocessedKeys?.[this.name]?.Keys ?? [];
      });
    }
    return items;
  }

  /** One page of a named access pattern (`tenant-entities.ts`), at most `limit` items, after `start`. */
  async query<T>(spec: QuerySpec, page: { limit?: number; start?: DynamoKey } = {}): Promise<Page<T>> {
    const result = await this.clients.query({
      ...this.queryInput(spec),
      Limit: page.limit,
      ExclusiveStartKey: page.start,
    });
    return { items: result.items as T[], lastKey: result.lastKey as DynamoKey | undefined };
  }

  /** Every item of an access pattern, page by page (the one paging loop). */
  async *all<T>(spec: QuerySpec, pageSize = 100): AsyncGenerator<T> {
    let start: DynamoKey | undefined;
    do {
      const page: Page<T> = await this.query<T>(spec, { limit: pageSize, start });
      yield* page.items;
      start = page.lastKey;
    } while (start);
  }

  async put(item: Record<string, unknown> & ItemKey, when: Conditional = {}): Promise<void | Refused> {
    return this.refusable(() => this.clients.doc.send(new PutCommand({ ...when, TableName: this.name, Item: item })));
  }

  /** Applies `spec` to the item; its new attributes, or `REFUSED` when the condition failed. */
  async update<T>(key: ItemKey, spec: UpdateSpec): Promise<T | Refused> {
    try {
      const result = await this.clients.doc.send(
        new UpdateCommand({ ...spec, TableName: this.name, Key: key, ReturnValues: 'ALL_NEW' }),
      );
      return result.Attributes as T;
    } catch (error) {
      if (isConditionalCheckFailed(error)) return REFUSED;
      throw error;
    }
  }

  async delete(key: ItemKey, when: Omit<DeleteCommandInput, 'TableName' | 'Key'> = {}): Promise<void | Refused> {
    return this.refusable(() => this.clients.doc.send(new DeleteCommand({ ...when, TableName: this.name, Key: key })));
  }

  /**
   * A TransactWriteItems of `ops` (conflicts with other transactions retried). When conditions refuse it, the
   * result lists the `refusal` of each refusing op, in order, so that callers decide by meaning, not by key.
   */
  async transact<F>(ops: Array<TxOp<F>>): Promise<TxResult<F>> {
    const codes = await transactWrite(
      this.clients.doc,
      ops.map((op) => this.transactItem(op)),
    );
    if (!codes) return { committed: true };
    const refused = ops.flatMap((op, i) =>
      codes[i] === 'ConditionalCheckFailed' && op.refusal !== undefined ? [op.refusal] : [],
    );
    return { committed: false, refused };
  }

  /** The transaction item of `op`, for a transaction that spans features (e.g. a message and its key). */
  transactItem<F>(op: TxOp<F>): TransactItem {
    if ('foreign' in op) return op.foreign;
    if ('put' in op) return { Put: { ...op.when, TableName: this.name, Item: op.put } };
    if ('update' in op) return { Update: { ...op.spec, TableName: this.name, Key: op.update } };
    if ('delete' in op) return { Delete: { ...op.when, TableName: this.name, Key: op.delete } };
    return { ConditionCheck: { ...op.when, TableName: this.name, Key: op.check } };
  }

  /** Deletes every item of an access pattern's partition (keys only, 25 a batch); how many were deleted. */
  async deleteAll(spec: QuerySpec): Promise<number> {
    let deleted = 0;
    let batch: ItemKey[] = [];
    for await (const item of this.all<ItemKey>({ ...spec, keysOnly: true })) {
      batch.push({ pk: item.pk, sk: item.sk });
      if (batch.length === BATCH_WRITE) {
        await this.deleteKeys(batch);
        deleted += batch.length;
        batch = [];
      }
    }
    await this.deleteKeys(batch);
    return deleted + batch.length;
  }

  /**
   * One segment of a parallel Scan of the whole table (`segment` of `totalSegments`), page by page, strongly
   * consistent, items as the low-level API returns them. Exports only (a bulk operator job, never a request
   * path: docs/data-model.md); `attributes` reads only those (clearing the table before a restore).
   */
  async *scan(
    segment: number,
    totalSegments: number,
    options: { pageSize?: number; attributes?: string[] } = {},
  ): AsyncGenerator<RawItem[]> {
    const names = options.attributes && Object.fromEntries(options.attributes.map((a, i) => [`#a${i}`, a]));
    let start: RawItem | undefined;
    do {
      const page = await this.clients.ddb.send(
        new ScanCommand({
          TableName: this.name,
          Segment: segment,
          TotalSegments: totalSegments,
          ConsistentRead: true,
          Limit: options.pageSize,
          ExclusiveStartKey: start,
          ...(names ? { ProjectionExpression: Object.keys(names).join(', '), ExpressionAttributeNames: names } : {}),
        }),
      );
      yield page.Items ?? [];
      start = page.LastEvaluatedKey;
    } while (start);
  }

  /** Puts items as they are (no condition: the same item put twice is one item), 25 a batch, unprocessed retried. */
  async putRaw(items: RawItem[]): Promise<void> {
    for (let i = 0; i < items.length; i += BATCH_WRITE) {
      await untilProcessed(
        items.slice(i, i + BATCH_WRITE).map((Item) => ({ PutRequest: { Item } })),
        async (requests) => {
          const result = await this.clients.ddb.send(
            new BatchWriteItemCommand({ RequestItems: { [this.name]: requests } }),
          );
          return (result.UnprocessedItems?.[this.name] ?? []) as typeof requests;
        },
      );
    }
  }

  /**
   * Deletes every item of the table (a Scan of keys, 25 a batch): a restore's first step. `seen` gets each item's
   * `pk`, `sk` and `id` before it goes (whose caches to drop). How many were deleted.
   */
  async clear(seen?: (item: RawItem) => void, totalSegments = 4): Promise<number> {
    const counts = await Promise.all(
      Array.from({ length: totalSegments }, async (_, segment) => {
        let deleted = 0;
        for await (const page of this.scan(segment, totalSegments, { attributes: ['pk', 'sk', 'id'] })) {
          if (seen) page.forEach(seen);
          const keys = page.map((k) => ({ pk: String(k.pk.S), sk: String(k.sk.S) }));
          for (let i = 0; i < keys.length; i += BATCH_WRITE) await this.deleteKeys(keys.slice(i, i + BATCH_WRITE));
          deleted += keys.length;
        }
        return deleted;
      }),
    );
    return counts.reduce((a, b) => a + b, 0);
  }

  private async deleteKeys(keys: ItemKey[]): Promise<void> {
    await untilProcessed(
      keys.map((Key) => ({ DeleteRequest: { Key } })),
      async (requests) => {
        const result = await this.clients.doc.send(new BatchWriteCommand({ RequestItems: { [this.name]: requests } }));
        return (result.UnprocessedItems?.[this.name] ?? []) as typeof requests;
      },
    );
  }

  private queryInput(spec: QuerySpec): QueryCommandInput {
    const partition = spec.index ? `${spec.index}pk` : 'pk';
    const sort = spec.index ? `${spec.index}sk` : 'sk';
    const values: Record<string, unknown> = { ':p': spec.partition };
    let condition = '#p = :p';
    const names: Record<string, string> = { '#p': partition };
    if (spec.sort) {
      names['#s'] = sort;
      values[':s'] = spec.sort.value;
      condition += spec.sort.op === 'begins_with' ? ' AND begins_with(#s, :s)' : ` AND #s ${spec.sort.op} :s`;
    }
    return {
      TableName: this.name,
      IndexName: spec.index,
      KeyConditionExpression: condition,
      ExpressionAttributeNames: names,
      ExpressionAttributeValues: values,
      ScanIndexForward: !spec.descending,
      ...(spec.keysOnly ? { ProjectionExpression: 'pk, sk' } : {}),
      ...(spec.consistent && !spec.index ? { ConsistentRead: true } : {}),
    };
  }

  private async refusable(send: () => Promise<unknown>): Promise<void | Refused> {
    try {
      await send();
    } catch (error) {
      if (isConditionalCheckFailed(error)) return REFUSED;
      if (isTransactionCanceled(error) && cancellationCodes(error).includes('ConditionalCheckFailed')) return REFUSED;
      throw error;
    }
  }
}

/**
 * Sends `first` with `send`, then what each answer left unprocessed, until nothing is left: capped, jittered backoff
 * between sends; past the retries, an error.
 */
async function untilProcessed<T>(first: T[], send: (pending: T[]) => Promise<T[]>): Promise<void> {
  let pending = first;
  for (let attempt = 0; pending.length > 0; attempt++) {
    if (attempt > BATCH_RETRIES) throw new Error(`batch: items still unprocessed after ${BATCH_RETRIES} retries`);
    if (attempt > 0) await sleep(Math.min(1000, 25 * 2 ** attempt) * (0.5 + Math.random() / 2));
    pending = await send(pending);
  }
}
