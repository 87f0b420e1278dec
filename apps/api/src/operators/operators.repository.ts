import { Injectable } from '@nestjs/common';
import { type RefreshFamily, type RefreshGrace, type RefreshRotation, rotationUpdate } from '@lib/auth';
import { GetCommand, PutCommand, ScanCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { marshall } from '@aws-sdk/util-dynamodb';
import {
  cancellationCodes,
  ControlKeys,
  DynamoClients,
  isConditionalCheckFailed,
  isTransactionCanceled,
  type OperatorAttributes,
  transactWrite,
} from '@lib/dynamo';
import { ChangeFeed, ControlTableService } from '@lib/tenancy';
import * as dynamoose from 'dynamoose';

/** A refresh-token family of an operator (the rotation rule: libs/auth refresh-token.ts). */
export interface OperatorSession extends RefreshFamily {
  operatorId: string;
  sessionId: string;
  refreshHash: string;
  /** Hashes of refresh tokens already rotated out: presenting one again is reuse. */
  previousHashes: string[];
  revoked: boolean;
  /** Epoch seconds; DynamoDB TTL removes the item after it. */
  expiresAt: number;
  createdAt: string;
  /** The last rotation, for its grace window; absent before the first refresh. */
  grace?: RefreshGrace;
}

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
 * Operators and their sessions in the control table. Operators are created through dynamoose (fixed models, low
 * traffic); session rotation is a conditional UpdateItem through the document client, so that two refreshes with
 * the same token cannot both win.
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
  constructor(
    private readonly control: ControlTableService,
    private readonly clients: DynamoClients,
    private readonly feed: ChangeFeed,
  ) {}

  /**
   * Read on every `/v1/platform/me`: one GetItem through the document client. (Through dynamoose it cost
   * about 0.8 ms of CPU more per call, measured in bench/: a schema walk and a failed optional require.)
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
    const marker = await this.control.models.markers.get(ControlKeys.operatorEmail(email), { consistent: true });
    return marker ? this.findById(marker.ownerId) : undefined;
  }

  /**
   * Creates the operator (listed in gsi1), its email marker and adds it to the enabled count, in one transaction;
   * false when the email is taken.
   */
  async create(operator: Omit<OperatorAttributes, 'pk' | 'sk' | 'gsi1pk' | 'gsi1sk'>): Promise<boolean> {
    const { operators, markers } = this.control.models;
    try {
      await dynamoose.transaction([
        operators.transaction.create({
          ...ControlKeys.operator(operator.id),
          ...ControlKeys.operatorIndex(operator.createdAt, operator.id),
          ...operator,
        }),
        markers.transaction.create({
          ...ControlKeys.operatorEmail(operator.email),
          ownerId: operator.id,
          createdAt: operator.createdAt,
        }),
        // A raw item (dynamoose passes it through): the counter is no dynamoose model.
        {
          Update: {
            TableName: this.control.tableName,
            Key: marshall(ControlKeys.operatorCount()),
            UpdateExpression: 'ADD enabledCount :one',
            ConditionExpression: 'attribute_exists(pk)',
            ExpressionAttributeValues: marshall({ ':one': operator.disabled ? 0 : 1 }),
          },
        },
      ] as Parameters<typeof dynamoose.transaction>[0]);
      return true;
    } catch (error) {
      if (isTransactionCanceled(error) && cancellationCodes(error)[2] === 'ConditionalCheckFailed') {
        throw new Error('the operator counter is missing: the boot-time operator index check has not run');
      }
      if (isTransactionCanceled(error) || isConditionalCheckFailed(error)) return false;
      throw error;
    }
  }

  /** Every operator, oldest first (gsi1 `OPERATORS`; operators are few: all pages). */
  async list(): Promise<OperatorAttributes[]> {
    const operators: OperatorAttributes[] = [];
    let start: Record<string, unknown> | undefined;
    do {
      const page = await this.clients.query({
        TableName: this.control.tableName,
        IndexName: 'gsi1',
        KeyConditionExpression: 'gsi1pk = :pk',
        ExpressionAttributeValues: { ':pk': ControlKeys.operatorIndex('', '').gsi1pk },
        ExclusiveStartKey: start,
      });
      operators.push(...(page.items as unknown as OperatorAttributes[]));
      start = page.lastKey;
    } while (start);
    return operators;
  }

  /** The number of enabled operators as counted, or undefined when the counter does not exist yet. */
  async enabledCount(): Promise<number | undefined> {
    const item = await this.clients.get({
      TableName: this.control.tableName,
      Key: ControlKeys.operatorCount(),
      ConsistentRead: true,
    });
    return item ? Number(item.enabledCount) : undefined;
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
    const now = new Date().toISOString();
    const sets = ['disabled = :disabled', 'updatedAt = :now'];
    const values: Record<string, unknown> = { ':disabled': disabled, ':was': !disabled, ':now': now, ':one': 1 };
    if (tokensValidAfter !== undefined) {
      sets.push('tokensValidAfter = :after');
      values[':after'] = tokensValidAfter;
    }
    const codes = await transactWrite(this.clients.doc, [
      {
        Update: {
          TableName: this.control.tableName,
          Key: ControlKeys.operator(current.id),
          UpdateExpression: `SET ${sets.join(', ')} ADD #version :one`,
          ConditionExpression: 'disabled = :was',
          ExpressionAttributeNames: { '#version': 'version' },
          ExpressionAttributeValues: values,
        },
      },
      {
        Update: {
          TableName: this.control.tableName,
          Key: ControlKeys.operatorCount(),
          UpdateExpression: 'ADD enabledCount :delta',
          ConditionExpression: disabled ? 'enabledCount > :one' : 'attribute_exists(pk)',
          ExpressionAttributeValues: { ':delta': disabled ? -1 : 1, ...(disabled ? { ':one': 1 } : {}) },
        },
      },
      this.feed.entry({ kind: 'operator', id: current.id }),
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
    let enabledCount = 0;
    let backfilled = 0;
    let start: Record<string, unknown> | undefined;
    do {
      const page = await this.clients.doc.send(
        new ScanCommand({
          TableName: this.control.tableName,
          FilterExpression: 'begins_with(pk, :prefix) AND sk = :sk',
          ProjectionExpression: 'id, createdAt, disabled, gsi1pk',
          ExpressionAttributeValues: { ':prefix': 'OPERATOR#', ':sk': ControlKeys.operator('').sk },
          ConsistentRead: true,
          ExclusiveStartKey: start,
        }),
      );
      for (const item of (page.Items ?? []) as Array<Pick<OperatorAttributes, 'id' | 'createdAt' | 'disabled'>>) {
        if (!item.disabled) enabledCount++;
        if ((item as { gsi1pk?: string }).gsi1pk) continue;
        const index = ControlKeys.operatorIndex(item.createdAt, item.id);
        await this.clients.doc.send(
          new UpdateCommand({
            TableName: this.control.tableName,
            Key: ControlKeys.operator(item.id),
            UpdateExpression: 'SET gsi1pk = :pk, gsi1sk = :sk',
            ConditionExpression: 'attribute_exists(pk)',
            ExpressionAttributeValues: { ':pk': index.gsi1pk, ':sk': index.gsi1sk },
          }),
        );
        backfilled++;
      }
      start = page.LastEvaluatedKey;
    } while (start);
    try {
      await this.clients.doc.send(
        new PutCommand({
          TableName: this.control.tableName,
          Item: { ...ControlKeys.operatorCount(), enabledCount },
          ConditionExpression: 'attribute_not_exists(pk)',
        }),
      );
    } catch (error) {
      // Another instance booting at the same time counted the same operators first.
      if (!isConditionalCheckFailed(error)) throw error;
    }
    return { scanned: true, backfilled, enabledCount };
  }

  async createSession(session: OperatorSession): Promise<void> {
    await this.clients.doc.send(
      new PutCommand({
        TableName: this.control.tableName,
        Item: { ...ControlKeys.operatorSession(session.operatorId, session.sessionId), ...session },
        ConditionExpression: 'attribute_not_exists(pk)',
      }),
    );
  }

  async findSession(operatorId: string, sessionId: string): Promise<OperatorSession | undefined> {
    const { Item } = await this.clients.doc.send(
      new GetCommand({
        TableName: this.control.tableName,
        Key: ControlKeys.operatorSession(operatorId, sessionId),
        ConsistentRead: true,
      }),
    );
    return Item as OperatorSession | undefined;
  }

  /** Writes a rotation only if the refresh hash is still the one presented; false when another refresh won. */
  async rotate(session: OperatorSession, rotation: RefreshRotation, expiresAt: number): Promise<boolean> {
    try {
      await this.clients.doc.send(
        new UpdateCommand({
          TableName: this.control.tableName,
          Key: ControlKeys.operatorSession(session.operatorId, session.sessionId),
          ...rotationUpdate(session.refreshHash, rotation, expiresAt),
        }),
      );
      return true;
    } catch (error) {
      if (isConditionalCheckFailed(error)) return false;
      throw error;
    }
  }

  async revokeSession(operatorId: string, sessionId: string): Promise<void> {
    await this.clients.doc
      .send(
        new UpdateCommand({
          TableName: this.control.tableName,
          Key: ControlKeys.operatorSession(operatorId, sessionId),
          UpdateExpression: 'SET revoked = :true',
          ConditionExpression: 'attribute_exists(pk)',
          ExpressionAttributeValues: { ':true': true },
        }),
      )
      .catch((error: unknown) => {
        if (!isConditionalCheckFailed(error)) throw error;
      });
  }
}
