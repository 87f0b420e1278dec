import { Injectable } from '@nestjs/common';
import { QueryCommand, TransactWriteCommand } from '@aws-sdk/lib-dynamodb';
import {
  ControlKeys,
  DynamoClients,
  type DynamoKey,
  isTransactionCanceled,
  type TenantAttributes,
  type TenantStatus,
  transactWrite,
} from '@lib/dynamo';
import { ChangeFeed, ControlTableService } from '@lib/tenancy';

export interface TenantPage {
  items: TenantAttributes[];
  lastKey: DynamoKey | undefined;
}

/**
 * Tenant records and slug markers in the control table. Reads go through dynamoose; writes that need a
 * condition on status or version, and the record+slug transaction, are explicit so that every condition is
 * visible here.
 */
@Injectable()
export class TenantsRepository {
  constructor(
    private readonly control: ControlTableService,
    private readonly clients: DynamoClients,
    private readonly feed: ChangeFeed,
  ) {}

  private get table(): string {
    return this.control.tableName;
  }

  async get(id: string): Promise<TenantAttributes | undefined> {
    const item = await this.control.models.tenants.get(ControlKeys.tenant(id), { consistent: true });
    return item ? (item.toJSON() as TenantAttributes) : undefined;
  }

  /** The tenant that owns `slug` (deleted tenants keep their slug). */
  async getBySlug(slug: string): Promise<TenantAttributes | undefined> {
    const marker = await this.control.models.markers.get(ControlKeys.slug(slug), { consistent: true });
    return marker ? this.get(marker.ownerId) : undefined;
  }

  /** The record (status provisioning) and its slug marker, in one transaction; false when the slug is taken. */
  async createWithSlug(record: TenantAttributes): Promise<boolean> {
    try {
      await this.clients.doc.send(
        new TransactWriteCommand({
          TransactItems: [
            { Put: { TableName: this.table, Item: record, ConditionExpression: 'attribute_not_exists(pk)' } },
            {
              Put: {
                TableName: this.table,
                Item: { ...ControlKeys.slug(record.slug), ownerId: record.id, createdAt: record.createdAt },
                ConditionExpression: 'attribute_not_exists(pk)',
              },
            },
          ],
        }),
      );
      return true;
    } catch (error) {
      if (isTransactionCanceled(error)) return false;
      throw error;
    }
  }

  /** A page of tenants, newest first (gsi1 `TENANTS`), optionally only those with `statuses`. */
  async list(limit: number, startKey: DynamoKey | undefined, statuses?: TenantStatus[]): Promise<TenantPage> {
    const filter = statuses?.length
      ? {
          FilterExpression: `#status IN (${statuses.map((_, i) => `:s${i}`).join(', ')})`,
          ExpressionAttributeNames: { '#status': 'status' },
        }
      : {};
    const values = Object.fromEntries((statuses ?? []).map((s, i) => [`:s${i}`, s]));
    const page = await this.clients.doc.send(
      new QueryCommand({
        TableName: this.table,
        IndexName: 'gsi1',
        KeyConditionExpression: 'gsi1pk = :pk',
        ExpressionAttributeValues: { ':pk': 'TENANTS', ...values },
        ScanIndexForward: false,
        Limit: limit,
        ExclusiveStartKey: startKey,
        ...filter,
      }),
    );
    return { items: (page.Items ?? []) as TenantAttributes[], lastKey: page.LastEvaluatedKey as DynamoKey | undefined };
  }

  /** Every tenant with one of `statuses`, page by page (operator tooling: reconciler, migrations). */
  async *all(statuses: TenantStatus[]): AsyncGenerator<TenantAttributes> {
    let key: DynamoKey | undefined;
    do {
      const page = await this.list(100, key, statuses);
      yield* page.items;
      key = page.lastKey;
    } while (key);
  }

  /**
   * Sets fields (and removes `remove`) when the record is in one of `fromStatuses` and, if given, at
   * `expectedVersion`. Returns the new record, or undefined when the condition failed.
   */
  async update(
    id: string,
    changes: Partial<Omit<TenantAttributes, 'pk' | 'sk' | 'id' | 'version'>>,
    condition: { fromStatuses?: TenantStatus[]; expectedVersion?: number },
    remove: Array<'failureReason' | 'pendingAdmin'> = [],
  ): Promise<TenantAttributes | undefined> {
    const names: Record<string, string> = { '#version': 'version' };
    const values: Record<string, unknown> = { ':one': 1 };
    const sets = Object.entries({ ...changes, updatedAt: changes.updatedAt ?? new Date().toISOString() }).map(
      ([field, value], i) => {
        names[`#f${i}`] = field;
        values[`:v${i}`] = value;
        return `#f${i} = :v${i}`;
      },
    );
    const conditions = ['attribute_exists(pk)'];
    if (condition.fromStatuses?.length) {
      names['#status'] = 'status';
      conditions.push(`#status IN (${condition.fromStatuses.map((_, i) => `:from${i}`).join(', ')})`);
      condition.fromStatuses.forEach((s, i) => (values[`:from${i}`] = s));
    }
    if (condition.expectedVersion !== undefined) {
      conditions.push('#version = :expected');
      values[':expected'] = condition.expectedVersion;
    }
    remove.forEach((field, i) => (names[`#r${i}`] = field));
    const removeClause = remove.length ? ` REMOVE ${remove.map((_, i) => `#r${i}`).join(', ')}` : '';
    // With its change record, so that every instance drops the cached tenant (status, settings, deletion).
    const refused = await transactWrite(this.clients.doc, [
      {
        Update: {
          TableName: this.table,
          Key: ControlKeys.tenant(id),
          UpdateExpression: `SET ${sets.join(', ')} ADD #version :one${removeClause}`,
          ConditionExpression: conditions.join(' AND '),
          ExpressionAttributeNames: names,
          ExpressionAttributeValues: values,
        },
      },
      this.feed.entry({ kind: 'tenant', tenantId: id }),
    ]);
    if (refused) return undefined;
    // TransactWriteItems returns no attributes: the record as written, read back (operator writes only).
    return this.get(id);
  }
}
