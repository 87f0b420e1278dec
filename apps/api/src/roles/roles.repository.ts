import { Injectable } from '@nestjs/common';
import { BatchGetCommand, GetCommand, QueryCommand, TransactWriteCommand } from '@aws-sdk/lib-dynamodb';
import { DynamoClients, isConditionalCheckFailed, isTransactionCanceled, TenantKeys } from '@lib/dynamo';
import { ChangeFeed, TenantRepository, type TransactItem } from '@lib/tenancy';
import { setTimeout as sleep } from 'node:timers/promises';
import type { RoleRecord } from './role.types';

export type RoleWriteResult = 'ok' | 'name_taken' | 'conflict';

/** Roles of the current tenant (table from the request context). */
@Injectable()
export class RolesRepository extends TenantRepository {
  constructor(
    clients: DynamoClients,
    private readonly feed: ChangeFeed,
  ) {
    super(clients);
  }

  /** The change record every role write carries: other instances drop the tenant's cached roles. */
  private changed(): TransactItem {
    return this.feed.entry({ kind: 'roles', tenantId: this.tenant.id });
  }

  /** Every role of the tenant (gsi1 `ROLES`, by name). A tenant has at most a few hundred roles. */
  async list(): Promise<RoleRecord[]> {
    const roles: RoleRecord[] = [];
    let start: Record<string, unknown> | undefined;
    do {
      const page = await this.doc.send(
        new QueryCommand({
          TableName: this.tableName,
          IndexName: 'gsi1',
          KeyConditionExpression: 'gsi1pk = :p',
          ExpressionAttributeValues: { ':p': 'ROLES' },
          ExclusiveStartKey: start,
          Limit: 100,
        }),
      );
      roles.push(...((page.Items ?? []) as RoleRecord[]));
      start = page.LastEvaluatedKey;
    } while (start);
    return roles;
  }

  /**
   * Every role of the tenant as it is now, for the permission cache: the index (eventually consistent) gives the
   * ids, a consistent BatchGetItem the items, so that a change announced by the feed is never re-read stale from
   * the index (a role created a moment ago may still be missing: its holders get fewer permissions, not more).
   */
  async listConsistent(): Promise<RoleRecord[]> {
    const keys = (await this.list()).map((r) => TenantKeys.role(r.id));
    const roles: RoleRecord[] = [];
    for (let i = 0; i < keys.length; i += 100) {
      let pending: Array<Record<string, unknown>> = keys.slice(i, i + 100);
      for (let attempt = 0; pending.length > 0; attempt++) {
        if (attempt > 5) throw new Error('roles: keys still unprocessed after 5 retries');
        if (attempt > 0) await sleep(Math.min(500, 20 * 2 ** attempt) * Math.random());
        const result = await this.doc.send(
          new BatchGetCommand({ RequestItems: { [this.tableName]: { Keys: pending, ConsistentRead: true } } }),
        );
        roles.push(...((result.Responses?.[this.tableName] ?? []) as RoleRecord[]));
        pending = result.UnprocessedKeys?.[this.tableName]?.Keys ?? [];
      }
    }
    return roles;
  }

  async get(id: string): Promise<RoleRecord | undefined> {
    const { Item } = await this.doc.send(
      new GetCommand({ TableName: this.tableName, Key: TenantKeys.role(id), ConsistentRead: true }),
    );
    return Item as RoleRecord | undefined;
  }

  /** The role and its name marker in one transaction. */
  async create(role: RoleRecord): Promise<RoleWriteResult> {
    return this.transact([
      {
        Put: {
          TableName: this.tableName,
          Item: {
            ...TenantKeys.role(role.id),
            ...TenantKeys.roleIndex(role.name),
            ...role,
            assignedCount: 0,
            enabledCount: 0,
          },
          ConditionExpression: 'attribute_not_exists(pk)',
        },
      },
      this.putNameMarker(role.name, role.id, role.createdAt),
      this.changed(),
    ]);
  }

  /** Changes name, description or permissions at `expectedVersion`; a new name swaps the marker atomically. */
  async update(
    current: RoleRecord,
    next: Pick<RoleRecord, 'name' | 'description' | 'permissions' | 'updatedAt'>,
  ): Promise<RoleWriteResult> {
    const renamed = next.name.toLowerCase() !== current.name.toLowerCase();
    const items: TransactItem[] = [
      {
        Update: {
          TableName: this.tableName,
          Key: TenantKeys.role(current.id),
          UpdateExpression:
            'SET #name = :name, gsi1sk = :name, description = :d, #perms = :p, updatedAt = :u ADD #version :one',
          ConditionExpression: '#version = :v AND builtIn = :false',
          ExpressionAttributeNames: { '#name': 'name', '#perms': 'permissions', '#version': 'version' },
          ExpressionAttributeValues: {
            ':name': next.name,
            ':d': next.description,
            ':p': next.permissions,
            ':u': next.updatedAt,
            ':one': 1,
            ':v': current.version,
            ':false': false,
          },
        },
      },
    ];
    items.push(this.changed());
    if (renamed) {
      items.push(this.putNameMarker(next.name, current.id, next.updatedAt), {
        Delete: {
          TableName: this.tableName,
          Key: TenantKeys.roleName(current.name),
          ConditionExpression: 'ownerId = :id',
          ExpressionAttributeValues: { ':id': current.id },
        },
      });
    }
    const result = await this.transact(items);
    return result === 'name_taken' && !renamed ? 'conflict' : result;
  }

  /**
   * Deletes a custom role that no user holds, at the version read (its permissions as checked), with its name
   * marker. `conflict`: the role changed, was assigned or is gone since it was read.
   */
  async delete(role: RoleRecord): Promise<Exclude<RoleWriteResult, 'name_taken'>> {
    try {
      await this.doc.send(
        new TransactWriteCommand({
          TransactItems: [
            {
              Delete: {
                TableName: this.tableName,
                Key: TenantKeys.role(role.id),
                ConditionExpression:
                  '#version = :v AND builtIn = :false AND (attribute_not_exists(assignedCount) OR assignedCount = :zero)',
                ExpressionAttributeNames: { '#version': 'version' },
                ExpressionAttributeValues: { ':false': false, ':zero': 0, ':v': role.version },
              },
            },
            { Delete: { TableName: this.tableName, Key: TenantKeys.roleName(role.name) } },
            this.changed(),
          ],
        }),
      );
      return 'ok';
    } catch (error) {
      if (isTransactionCanceled(error) || isConditionalCheckFailed(error)) return 'conflict';
      throw error;
    }
  }

  private putNameMarker(name: string, ownerId: string, createdAt: string) {
    return {
      Put: {
        TableName: this.tableName,
        Item: { ...TenantKeys.roleName(name), ownerId, createdAt },
        ConditionExpression: 'attribute_not_exists(pk)',
      },
    };
  }

  /** Runs a transaction; tells a taken name (the marker's condition) from any other failed condition. */
  private async transact(items: TransactItem[]): Promise<RoleWriteResult> {
    const codes = await this.transactWrite(items);
    if (!codes) return 'ok';
    const markerIndex = items.findIndex((i) => i.Put && String(i.Put.Item?.pk).startsWith('ROLENAME#'));
    return markerIndex >= 0 && codes[markerIndex] === 'ConditionalCheckFailed' ? 'name_taken' : 'conflict';
  }
}
