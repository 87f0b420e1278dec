import {
  BatchWriteCommand,
  type DynamoDBDocumentClient,
  type GetCommandInput,
  QueryCommand,
  type QueryCommandInput,
} from '@aws-sdk/lib-dynamodb';
import { type TransactItem, transactWrite } from '@lib/dynamo';
import { setTimeout as sleep } from 'node:timers/promises';
import type { DynamoClients, QueryPage } from '@lib/dynamo';
import { TenantTable } from './data/tenant-table';
import { RequestContext, type ResolvedTenant } from './request-context';

export type { TransactItem } from '@lib/dynamo';

/**
 * Base of every repository over a tenant table. The table name comes only from the request context (the
 * tenant resolved from the verified token); without a tenant in context every call throws.
 */
export abstract class TenantRepository {
  protected constructor(private readonly clients: DynamoClients) {}

  protected get doc(): DynamoDBDocumentClient {
    return this.clients.doc;
  }

  /** One item from the clients' cached-stack `reads` client (for hot reads; same item shape as `doc`). */
  protected getItem(input: GetCommandInput): Promise<Record<string, unknown> | undefined> {
    return this.clients.get(input);
  }

  /** One Query page on the clients' cached-stack `reads` client (for hot reads; same item shapes as `doc`). */
  protected query(input: QueryCommandInput): Promise<QueryPage> {
    return this.clients.query(input);
  }

  /** The current tenant's table, the only way to it; throws NoTenantContextError when there is no tenant. */
  protected get table(): TenantTable {
    return new TenantTable(this.clients, RequestContext.tenant());
  }

  /** The tenant of the current request; throws NoTenantContextError when there is none. */
  protected get tenant(): ResolvedTenant {
    return RequestContext.tenant();
  }

  /** The current tenant's table name; throws NoTenantContextError when there is none. */
  protected get tableName(): string {
    return RequestContext.tenant().tableName;
  }

  /** A TransactWriteItems with conflict retries; the cancellation codes when a condition refused it. */
  protected transactWrite(items: TransactItem[]): Promise<string[] | undefined> {
    return transactWrite(this.doc, items);
  }

  /**
   * Deletes every item of a partition, in pages of 100 keys and batches of 25, retrying unprocessed items
   * with capped backoff. Returns how many items were deleted.
   */
  protected async deletePartition(pk: string): Promise<number> {
    let deleted = 0;
    let start: Record<string, unknown> | undefined;
    do {
      const page = await this.doc.send(
        new QueryCommand({
          TableName: this.tableName,
          KeyConditionExpression: 'pk = :pk',
          ExpressionAttributeValues: { ':pk': pk },
          ProjectionExpression: 'pk, sk',
          ExclusiveStartKey: start,
          Limit: 100,
        }),
      );
      const keys = (page.Items ?? []) as Array<{ pk: string; sk: string }>;
      await this.deleteKeys(keys);
      deleted += keys.length;
      start = page.LastEvaluatedKey;
    } while (start);
    return deleted;
  }

  /** BatchWriteItem deletes, 25 at a time, until nothing is left unprocessed (bounded retries). */
  protected async deleteKeys(keys: Array<{ pk: string; sk: string }>): Promise<void> {
    for (let i = 0; i < keys.length; i += 25) {
      let requests = keys.slice(i, i + 25).map((Key) => ({ DeleteRequest: { Key } }));
      for (let attempt = 0; requests.length > 0; attempt++) {
        if (attempt > 10) throw new Error('batch delete: items still unprocessed after 10 retries');
        if (attempt > 0) await sleep(Math.min(1000, 25 * 2 ** attempt) * (0.5 + Math.random() / 2));
        const result = await this.doc.send(new BatchWriteCommand({ RequestItems: { [this.tableName]: requests } }));
        requests = (result.UnprocessedItems?.[this.tableName] ?? []) as typeof requests;
      }
    }
  }
}
