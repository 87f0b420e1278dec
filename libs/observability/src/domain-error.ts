/** Codes of domain errors; the HTTP layer maps each to a status (apps/api problem filter). */
export type DomainErrorCode =
  | 'unauthenticated'
  | 'forbidden'
  | 'not_found'
  | 'conflict'
  | 'precondition_failed'
  | 'invalid_input'
  | 'rate_limited'
  | 'unavailable'
  | 'tenant_suspended'
  | 'payload_too_large'
  | 'unprocessable'
  | 'quota_exceeded'
  | 'upstream_failed'
  | 'upstream_timeout';

/** An expected failure with a code and a message that is safe to show to the caller. */
export class DomainError extends Error {
  constructor(
    readonly code: DomainErrorCode,
    message: string,
    readonly details: { retryAfterSeconds?: number; errors?: Array<{ field: string; message: string }> } = {},
  ) {
    super(message);
    this.name = 'DomainError';
  }
}
