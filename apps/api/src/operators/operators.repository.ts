import { Injectable } from '@nestjs/common';
import { RefreshSessions, type SessionItems, type SessionKey, type SessionUpdate } from '@lib/auth';
import { UpdateCommand } from '@aws-sdk/lib-dynamodb';
import {
  ControlKeys,
  DynamoClients,
  isConditionalCheckFailed,
  type OperatorAttributes,
  type OperatorItem,
  transactControl,
} from '@lib/dynamo';
import { ChangeFeed, ControlTableService } from '@lib/tenancy';
import * as dynamoose from 'dynamoose';

/** Why a disable or enable did not happen. */
export type OperatorWriteResult = 'ok' | 'changed' | 'last-enabled' | 'no-counter';

/** What the boot-time index check did (`OperatorsRepository.ensureIndexed`). */
export interface IndexReport {
  /** True when the counter was missing and the operators were scanned (once per deployment). */
  scanned: boolean;
  backfilled: number;
  enabledCount?: number;
}

/**
 * Operators, their counter and their sessions in the control table, through their dynamoose models; the
 * request-path reads and writes (`findById` on every platform request; a session's read and rotation on every
 * refresh) go through the document client, with the models' keys and schemas (docs/data-model.md).
 *
 * The counter item (`ControlKeys.operatorCount()`, `enabledCount`) is changed in the same transaction as every
 * operator write that creates, disables or enables an operator, and a disable requires `enabledCount > 1`: two
 * operators disabling each other at the same time write the same counter item, DynamoDB serialises the two
 * transactions, and the second one sees 1 and is refused. Every such write also requires the counter to exist
 * (`attribute_exists`), so that nothing changes operators before the boot-time check has counted them.
 * Invariant: `enabledCount` never exceeds the number of enabled operators (it may only fall short, see
 * `ensureIndexed`), so the condition never lets the last enabled operator go.
 */
@Injectable()
export class OperatorsRepository {
  /** Operators' refresh sessions (the rule and the item: libs/auth), in the operator's partition. */
  readonly sessions: RefreshSessions;

  constructor(
    private readonly control: ControlTableService,
    private readonly clients: DynamoClients,
    private readonly feed: ChangeFeed,
  ) {
    this.sessions = new RefreshSessions(this.sessionItems());
  }

  private get models() {
    return this.control.models;
  }

  /**
   * Read on every platform request (`OperatorCache` misses): one GetItem through the document client. (Through
   * dynamoose it cost about 0.8 ms of CPU more per call, measured in bench/: a schema walk and a failed optional
   * require.) The item is written by the `operators` model.
   */
  async findById(id: string): Promise<OperatorAttributes | undefined> {
    const item = await this.clients.get({
      TableName: this.control.tableName,
      Key: ControlKeys.operator(id),
      ConsistentRead: true,
    });
    return item as OperatorAttributes | undefined;
  }

  async findByEmail(email: string): Promise<OperatorAttributes | undefined> {
    const marker = await this.models.markers.get(ControlKeys.operatorEmail(email), { consistent: true });
    return marker ? this.findById(marker.ownerId) : undefined;
  }

  /**
   * Creates the operator (listed in gsi1), its email marker and adds it to the enabled count, in one transaction;
   * false when the email is taken.
   */
  async create(operator: Omit<OperatorAttributes, 'pk' | 'sk' | 'gsi1pk' | 'gsi1sk'>): Promise<boolean> {
    const codes = await transactControl([
      this.models.operators.transaction.create({
        ...ControlKeys.operator(operator.id),
        ...ControlKeys.operatorIndex(operator.createdAt, operator.id),
        ...operator,
      }),
      this.models.markers.transaction.create({
        ...ControlKeys.operatorEmail(operator.email),
        ownerId: operator.id,
        createdAt: operator.createdAt,
      }),
      this.models.operatorCount.transaction.update(
        ControlKeys.operatorCount(),
        { $ADD: { enabledCount: operator.disabled ? 0 : 1 } },
        { condition: new dynamoose.Condition('pk').exists() },
      ),
    ]);
    if (codes?.[2] === 'ConditionalCheckFailed') {
      throw new Error('the operator counter is missing: the boot-time operator index check has not run');
    }
    return !codes;
  }

  /** Every operator, oldest first (gsi1 `OPERATORS`; operators are few: all pages). */
  async list(): Promise<OperatorAttributes[]> {
    const operators = await this.models.operators
      .query('gsi1pk')
      .eq(ControlKeys.operatorIndex('', '').gsi1pk)
      .using('gsi1')
      .all()
      .exec();
    return operators.map((item) => item.toJSON() as OperatorAttributes);
  }

  /** The number of enabled operators as counted, or undefined when the counter does not exist yet. */
  async enabledCount(): Promise<number | undefined> {
    const counter = await this.models.operatorCount.get(ControlKeys.operatorCount(), { consistent: true });
    return counter?.enabledCount;
  }

  /**
   * Disables (`disabled` true, with `tokensValidAfter`) or enables an operator, in one transaction with the
   * enabled count and the change record. Disabling requires another enabled operator (`enabledCount > 1`).
   * 'changed' when the operator is no longer in the state it was read in (someone else changed it first).
   */
  async setDisabled(
    current: OperatorAttributes,
    disabled: boolean,
    tokensValidAfter: number | undefined,
  ): Promise<OperatorWriteResult> {
    const set: Partial<OperatorAttributes> = { disabled, updatedAt: new Date().toISOString() };
    if (tokensValidAfter !== undefined) set.tokensValidAfter = tokensValidAfter;
    const codes = await transactControl([
      this.models.operators.transaction.update(
        ControlKeys.operator(current.id),
        { $SET: set, $ADD: { version: 1 } } as Partial<OperatorItem>,
        { condition: new dynamoose.Condition('disabled').eq(!disabled) },
      ),
      this.models.operatorCount.transaction.update(
        ControlKeys.operatorCount(),
        { $ADD: { enabledCount: disabled ? -1 : 1 } },
        {
          condition: disabled ? new dynamoose.Condition('enabledCount').gt(1) : new dynamoose.Condition('pk').exists(),
        },
      ),
      this.models.changes.transaction.create(this.feed.record({ kind: 'operator', id: current.id })),
    ]);
    if (!codes) return 'ok';
    if (codes[0] === 'ConditionalCheckFailed') return 'changed';
    if (codes[1] === 'ConditionalCheckFailed') {
      return disabled && (await this.enabledCount()) !== undefined ? 'last-enabled' : 'no-counter';
    }
    throw new Error(`operator update cancelled: ${codes.join(', ')}`);
  }

  /**
   * Boot-time check of the operator list and counter; costs one GetItem when they exist (every boot but the
   * first of a deployment).
   *
   * Deployments older than the operator list have operators without gsi1 attributes and no counter. Neither the
   * operator items nor the `OPEMAIL#` markers can be listed by key (their partitions are one per operator), so
   * finding them once takes a Scan of the control table, filtered to operator items and projected to a few
   * attributes. It runs only here (never on a request path) and only while the counter is missing, i.e. once
   * per deployment: the counter is written last, after the backfill. Until then every operator write (create,
   * disable, enable) is refused by its `attribute_exists` condition on the counter, so the count written is
   * exact; two instances booting together both scan and count the same operators, and the second Put loses its
   * `attribute_not_exists` condition harmlessly.
   *
   * An operator created meanwhile by an older version of the code (rolling upgrade) is neither listed nor counted:
   * the count then falls short, which only refuses a disable that could have been allowed, never the reverse.
   * Deleting the counter item re-runs this check at the next boot.
   */
  async ensureIndexed(): Promise<IndexReport> {
    if ((await this.enabledCount()) !== undefined) return { scanned: false, backfilled: 0 };
    const { operators, operatorCount } = this.models;
    const found = await operators
      .scan('pk')
      .beginsWith(ControlKeys.operator('').pk)
      .and()
      .where('sk')
      .eq(ControlKeys.operator('').sk)
      .attributes(['id', 'createdAt', 'disabled', 'gsi1pk'])
      .consistent()
      .all()
      .exec();
    let enabledCount = 0;
    let backfilled = 0;
    for (const { id, createdAt, disabled, gsi1pk } of found) {
      if (!disabled) enabledCount++;
      if (gsi1pk) continue;
      await operators.update(ControlKeys.operator(id), ControlKeys.operatorIndex(createdAt, id), {
        condition: new dynamoose.Condition('pk').exists(),
      });
      backfilled++;
    }
    try {
      // `create` writes only where no item has the key (attribute_not_exists).
      await operatorCount.create({ ...ControlKeys.operatorCount(), enabledCount });
    } catch (error) {
      // Another instance booting at the same time counted the same operators first.
      if (!isConditionalCheckFailed(error)) throw error;
    }
    return { scanned: true, backfilled, enabledCount };
  }

  /**
   * The control table as the place of operator sessions: created and revoked through the `operatorSessions`
   * model; read and rotated (every refresh) through the document client, like `findById`.
   */
  private sessionItems(): SessionItems {
    const table = this.control.tableName;
    const doc = this.clients.doc;
    return {
      key: (operatorId, sessionId) => ControlKeys.operatorSession(operatorId, sessionId),
      create: async (item) => {
        await this.models.operatorSessions.create(item);
      },
      get: (key: SessionKey) => this.clients.get({ TableName: table, Key: key, ConsistentRead: true }),
      update: async (key: SessionKey, update: SessionUpdate) => {
        try {
          await doc.send(new UpdateCommand({ TableName: table, Key: key, ...update }));
          return true;
        } catch (error) {
          if (isConditionalCheckFailed(error)) return false;
          throw error;
        }
      },
      revoke: async (key: SessionKey) => {
        await this.models.operatorSessions
          .update(
            key,
            { revoked: true },
            {
              condition: new dynamoose.Condition('pk').exists(),
            },
          )
          .catch((error: unknown) => {
            if (!isConditionalCheckFailed(error)) throw error;
          });
      },
    };
  }
}
