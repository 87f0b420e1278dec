/** Error names of DynamoDB and of the SDK's transport that mean "the database is unavailable right now". */
const UNAVAILABLE = new Set([
  'ProvisionedThroughputExceededException',
  'ThrottlingException',
  'RequestLimitExceeded',
  'InternalServerError',
  'ServiceUnavailable',
  'TimeoutError',
  'RequestTimeout',
  'RequestTimeoutException',
  'AbortError',
  'ECONNREFUSED',
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
]);

/** True when a DynamoDB call failed because the database is unreachable, slow or throttling (→ 503). */
export function isDynamoUnavailable(error: unknown): boolean {
  const e = error as { name?: string; code?: string; $metadata?: { httpStatusCode?: number }; $fault?: string };
  if (!e || typeof e !== 'object') return false;
  if ((e.name && UNAVAILABLE.has(e.name)) || (e.code && UNAVAILABLE.has(e.code))) return true;
  const status = e.$metadata?.httpStatusCode;
  return e.$fault === 'server' || (status !== undefined && status >= 500);
}

export function isConditionalCheckFailed(error: unknown): boolean {
  return (error as { name?: string })?.name === 'ConditionalCheckFailedException';
}

/** A single-item write refused because a transaction in flight holds the item: safe to send again. */
export function isTransactionConflict(error: unknown): boolean {
  return (error as { name?: string })?.name === 'TransactionConflictException';
}

export function isTransactionCanceled(error: unknown): boolean {
  return (error as { name?: string })?.name === 'TransactionCanceledException';
}

/** The cancellation code of each item of a cancelled transaction (`ConditionalCheckFailed`, `None`, ...). */
export function cancellationCodes(error: unknown): string[] {
  const reasons = (error as { CancellationReasons?: Array<{ Code?: string }> }).CancellationReasons ?? [];
  return reasons.map((r) => r.Code ?? 'None');
}
