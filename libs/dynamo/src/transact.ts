import {
  type DynamoDBDocumentClient,
  TransactWriteCommand,
  type TransactWriteCommandInput,
} from '@aws-sdk/lib-dynamodb';
import { DomainError } from '@lib/observability';
import { setTimeout as sleep } from 'node:timers/promises';
import { cancellationCodes, isTransactionCanceled, isTransactionConflict } from './errors';

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
 * same items is retried (`retryConflicts`), never mistaken for a failed condition.
 */
export async function commitTransaction(send: () => Promise<unknown>): Promise<string[] | undefined> {
  try {
    await retryConflicts(send);
    return undefined;
  } catch (error) {
    if (isTransactionCanceled(error)) return cancellationCodes(error);
    throw error;
  }
}

/**
 * Runs `send` again, with capped and jittered backoff, while it conflicts with a transaction in flight: a
 * transaction cancelled for `TransactionConflict`, or a single write refused because a transaction holds its item.
 * Past the attempts it is a 503 (retry later). Any other error, a refused condition included, is `send`'s.
 */
export async function retryConflicts<T>(send: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await send();
    } catch (error) {
      if (!isConflict(error)) throw error;
      if (attempt >= MAX_CONFLICT_ATTEMPTS) {
        throw new DomainError('unavailable', 'too many concurrent changes; retry', { retryAfterSeconds: 1 });
      }
      await sleep(Math.min(500, 10 * 2 ** attempt) * Math.random());
    }
  }
}

const isConflict = (error: unknown): boolean =>
  isTransactionConflict(error) ||
  (isTransactionCanceled(error) && cancellationCodes(error).includes('TransactionConflict'));
