import { Injectable } from '@nestjs/common';
import { GetCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import { DynamoClients, type DynamoKey, TenantKeys } from '@lib/dynamo';
import { ChangeFeed, TenantRepository, type TransactItem } from '@lib/tenancy';
import type { UserRecord } from './user.types';

export type UserWriteResult = 'ok' | 'email_taken' | 'role_missing' | 'last_owner' | 'version';

/**
 * One item of a user transaction with what its condition's refusal means, set where the item is built (an item
 * without a condition has none), so that a cancelled transaction is read by the failed item's index alone.
 */
interface Step {
  item: TransactItem;
  refused?: Exclude<UserWriteResult, 'ok'>;
}

export interface RoleCounterChange {
  roleId: string;
  assigned: number;
  enabled: number;
  /** Set on the owner role when it loses an enabled holder: refused if it was the last. */
  keepOneEnabled: boolean;
}

/** Users of the current tenant (table from the request context). */
@Injectable()
export class UsersRepository extends TenantRepository {
  constructor(
    clients: DynamoClients,
    private readonly feed: ChangeFeed,
  ) {
    super(clients);
  }

  /** The change record of a write that alters the user's access: other instances drop their cached copy. */
  private changed(userId: string): Step {
    return { item: this.feed.entry({ kind: 'user', tenantId: this.tenant.id, id: userId }) };
  }

  async get(id: string): Promise<UserRecord | undefined> {
    const item = await this.getItem({ TableName: this.tableName, Key: TenantKeys.user(id), ConsistentRead: true });
    return item as UserRecord | undefined;
  }

  async getByEmail(email: string): Promise<UserRecord | undefined> {
    const { Item } = await this.doc.send(
      new GetCommand({ TableName: this.tableName, Key: TenantKeys.email(email), ConsistentRead: true }),
    );
    return Item ? this.get(Item.ownerId as string) : undefined;
  }

  /** A page of users, oldest first (gsi1 `USERS`). */
  async page(
    limit: number,
    start: DynamoKey | undefined,
  ): Promise<{ items: UserRecord[]; lastKey: DynamoKey | undefined }> {
    const page = await this.doc.send(
      new QueryCommand({
        TableName: this.tableName,
        IndexName: 'gsi1',
        KeyConditionExpression: 'gsi1pk = :p',
        ExpressionAttributeValues: { ':p': 'USERS' },
        Limit: limit,
        ExclusiveStartKey: start,
      }),
    );
    return { items: (page.Items ?? []) as UserRecord[], lastKey: page.LastEvaluatedKey as DynamoKey | undefined };
  }

  /** The user, its email marker and its roles' counters, in one transaction. */
  async create(user: UserRecord): Promise<UserWriteResult> {
    return this.transact([
      {
        item: {
          Put: {
            TableName: this.tableName,
            Item: { ...TenantKeys.user(user.id), ...TenantKeys.userIndex(user.createdAt, user.id), ...user },
            ConditionExpression: 'attribute_not_exists(pk)',
          },
        },
        // The id is a new ULID: taken only if this very write already happened.
        refused: 'version',
      },
      {
        item: {
          Put: {
            TableName: this.tableName,
            Item: { ...TenantKeys.email(user.email), ownerId: user.id, createdAt: user.createdAt },
            ConditionExpression: 'attribute_not_exists(pk)',
          },
        },
        refused: 'email_taken',
      },
      ...user.roleIds.map((roleId) =>
        this.counter({ roleId, assigned: 1, enabled: user.disabled ? 0 : 1, keepOneEnabled: false }),
      ),
    ]);
  }

  /** Applies `changes` at the user's current version, with the role counter changes they imply. */
  async update(
    current: UserRecord,
    changes: Partial<Pick<UserRecord, 'name' | 'roleIds' | 'disabled' | 'tokensValidAfter' | 'passwordHash'>>,
    counters: RoleCounterChange[],
    updatedAt: string,
  ): Promise<UserWriteResult> {
    const names: Record<string, string> = { '#version': 'version' };
    const values: Record<string, unknown> = { ':v': current.version, ':one': 1 };
    const sets = Object.entries({ ...changes, updatedAt }).map(([field, value], i) => {
      names[`#f${i}`] = field;
      values[`:f${i}`] = value;
      return `#f${i} = :f${i}`;
    });
    return this.transact([
      {
        item: {
          Update: {
            TableName: this.tableName,
            Key: TenantKeys.user(current.id),
            UpdateExpression: `SET ${sets.join(', ')} ADD #version :one`,
            ConditionExpression: '#version = :v',
            ExpressionAttributeNames: names,
            ExpressionAttributeValues: values,
          },
        },
        refused: 'version',
      },
      ...counters.filter((c) => c.assigned !== 0 || c.enabled !== 0).map((c) => this.counter(c)),
      this.changed(current.id),
    ]);
  }

  /** Deletes the user, its email marker and its role assignments (one transaction), then its sessions. */
  async delete(current: UserRecord, counters: RoleCounterChange[]): Promise<UserWriteResult> {
    const result = await this.transact([
      {
        item: {
          Delete: {
            TableName: this.tableName,
            Key: TenantKeys.user(current.id),
            ConditionExpression: '#version = :v',
            ExpressionAttributeNames: { '#version': 'version' },
            ExpressionAttributeValues: { ':v': current.version },
          },
        },
        refused: 'version',
      },
      { item: { Delete: { TableName: this.tableName, Key: TenantKeys.email(current.email) } } },
      ...counters.map((c) => this.counter(c)),
      this.changed(current.id),
    ]);
    // Sessions live in the user's partition: with the user item gone, remove what is left of it.
    if (result === 'ok') await this.deletePartition(TenantKeys.user(current.id).pk);
    return result;
  }

  /** A role's counters move; refused when the role is gone, or (keepOneEnabled) its last enabled holder leaves. */
  private counter(c: RoleCounterChange): Step {
    const values: Record<string, number> = { ':a': c.assigned, ':e': c.enabled };
    let condition = 'attribute_exists(pk)';
    if (c.keepOneEnabled) {
      condition += ' AND enabledCount > :one';
      values[':one'] = 1;
    }
    return {
      item: {
        Update: {
          TableName: this.tableName,
          Key: TenantKeys.role(c.roleId),
          UpdateExpression: 'ADD assignedCount :a, enabledCount :e',
          ConditionExpression: condition,
          ExpressionAttributeValues: values,
        },
      },
      refused: c.keepOneEnabled ? 'last_owner' : 'role_missing',
    };
  }

  /**
   * Runs the steps as one transaction; when it is cancelled, the first failed condition's step says what it
   * means. A cancellation with no failed condition reads as a concurrent change of the user ('version').
   */
  private async transact(steps: Step[]): Promise<UserWriteResult> {
    const codes = await this.transactWrite(steps.map((s) => s.item));
    if (!codes) return 'ok';
    return steps[codes.indexOf('ConditionalCheckFailed')]?.refused ?? 'version';
  }
}
