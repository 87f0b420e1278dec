import { DomainError } from '@lib/observability';

/** What an attempt returns when its conditional write found the item changed since it was read: read again. */
export const RETRY: unique symbol = Symbol('optimistic-retry');

/**
 * Attempts of one optimistic read-modify-write. Each lost race means another writer won, so a few rounds let a
 * handful of concurrent writers through before the caller is told to retry (409).
 */
export const OPTIMISTIC_ATTEMPTS = 5;

export interface RetryOptions {
  /** The 409's detail once every attempt found the item changed (`the chat is being changed concurrently; retry`). */
  conflict: string;
  /** At most this many attempts (OPTIMISTIC_ATTEMPTS unless a test asks for fewer). */
  attempts?: number;
}

/**
 * Runs `attempt` (read the item, check, write at the version read) until it returns a value, or RETRY
 * `attempts` times (then 409 `conflict`). An attempt decides from the repository's typed result whether a
 * refused write is a lost race (RETRY) or an answer (a value, or a thrown DomainError such as 412).
 */
export async function retryOptimistic<T>(attempt: () => Promise<T | typeof RETRY>, options: RetryOptions): Promise<T> {
  const attempts = options.attempts ?? OPTIMISTIC_ATTEMPTS;
  for (let i = 0; i < attempts; i++) {
    const outcome = await attempt();
    if (outcome !== RETRY) return outcome;
  }
  throw new DomainError('conflict', options.conflict);
}
