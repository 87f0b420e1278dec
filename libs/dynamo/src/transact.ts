import {
  type DynamoDBDocumentClient,
  TransactWriteCommand,
  type TransactWriteCommandInput,
} from '@aws-sdk/lib-dynamodb';
import { DomainError } from '@lib/observability';
import { setTimeout as sleep } from 'node:timers/promises';
import { cancellationCodes, isTransactionCanceled } from './errors';

/** One item of a TransactWriteItems (document-client values). */
export type TransactItem = NonNullable<TransactWriteCommandInput['TransactItems']>[number];

const MAX_CONFLICT_ATTEMPTS = 8;

/**
 * Runs a TransactWriteItems. Returns undefined when it committed, or the cancellation code of each item
 * (`ConditionalCheckFailed`, `None`, ...) when a condition refused it (see `commitTransaction`).
 */
export function transactWrite(doc: DynamoDBDocumentClient, items: TransactItem[]): Promise<string[] | undefined> {
  return commitTransaction(() => doc.send(new TransactWriteCommand({ TransactItems: items })));
}

/**
 * Sends a transaction with `send` (any client: the document client, dynamoose). Returns undefined when it committed,
 * or the cancellation code of each item when a condition refused it. A conflict with another transaction on the
 * same items is retried with capped, jittered backoff; past the retries it is a 503 (retry later), never mistaken
 * for a failed condition.
 */
export async function commitTransaction(send: () => Promise<unknown>): Promise<string[] | undefined> {
  for (let attempt = 1; ; attempt++) {
    try {
      await send();
      return undefined;
    } catch (error) {
      if (!isTransactionCanceled(error)) throw error;
      const codes = cancellationCodes(error);
      if (!codes.includes('TransactionConflict')) return codes;
      if (attempt >= MAX_CONFLICT_ATTEMPTS) {
        throw new DomainError('unavailable', 'too many concurrent changes; retry', { retryAfterSeconds: 1 });
      }
      await sleep(Math.min(500, 10 * 2 ** attempt) * Math.random());
    }
  }
}
