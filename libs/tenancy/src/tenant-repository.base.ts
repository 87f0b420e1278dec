import {
  BatchWriteCommand,
  type DynamoDBDocumentClient,
  type GetCommandInput,
  QueryCommand,
  type QueryCommandInput,
  TransactWriteCommand,
  type TransactWriteCommandInput,
} from '@aws-sdk/lib-dynamodb';
import { isTransactionCanceled } from '@lib/dynamo';
import { DomainError } from '@lib/observability';
import { setTimeout as sleep } from 'node:timers/promises';
import type { DynamoClients, QueryPage } from '@lib/dynamo';
import { RequestContext, type ResolvedTenant } from './request-context';

/** One item of a TransactWriteItems (document-client values). */
export type TransactItem = NonNullable<TransactWriteCommandInput['TransactItems']>[number];

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

  /** The tenant of the current request; throws NoTenantContextError when there is none. */
  protected get tenant(): ResolvedTenant {
    return RequestContext.tenant();
  }

  /** The current tenant's table name; throws NoTenantContextError when there is none. */
  protected get tableName(): string {
    return RequestContext.tenant().tableName;
  }

  /**
   * Runs a TransactWriteItems. Returns undefined when it committed, or the cancellation code of each item
   * (`ConditionalCheckFailed`, `None`, ...) when a condition refused it. A conflict with another transaction on
   * the same items is retried with capped, jittered backoff; past the retries it is a 503 (retry later), never
   * mistaken for a failed condition.
   */
  protected async transactWrite(items: TransactItem[]): Promise<string[] | undefined> {
    for (let attempt = 1; ; attempt++) {
      try {
        await this.doc.send(new TransactWriteCommand({ TransactItems: items }));
        return undefined;
      } catch (error) {
        if (!isTransactionCanceled(error)) throw error;
        const codes = ((error as { CancellationReasons?: Array<{ Code?: string }> }).CancellationReasons ?? []).map(
          (r) => r.Code ?? 'None',
        );
        if (!codes.includes('TransactionConflict')) return codes;
        if (attempt >= 8) {
          throw new DomainError('unavailable', 'too many concurrent changes; retry', { retryAfterSeconds: 1 });
        }
        await sleep(Math.min(500, 10 * 2 ** attempt) * Math.random());
      }
    }
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
