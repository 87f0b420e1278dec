import { DomainError } from '@lib/observability';
import { OPTIMISTIC_ATTEMPTS, RETRY, retryOptimistic } from './optimistic';

describe('retryOptimistic', () => {
  /** An attempt that loses the race `losses` times, then writes; counts its calls. */
  const racing = (losses: number) => {
    let calls = 0;
    const attempt = async (): Promise<string | typeof RETRY> => (++calls > losses ? `written on ${calls}` : RETRY);
    return { attempt, calls: () => calls };
  };

  it('returns the first attempt that writes, without another round', async () => {
    const { attempt, calls } = racing(0);
    await expect(retryOptimistic(attempt, { conflict: 'x' })).resolves.toBe('written on 1');
    expect(calls()).toBe(1);
  });

  it('reads again after each lost race, up to the limit', async () => {
    const { attempt, calls } = racing(OPTIMISTIC_ATTEMPTS - 1);
    await expect(retryOptimistic(attempt, { conflict: 'x' })).resolves.toBe(`written on ${OPTIMISTIC_ATTEMPTS}`);
    expect(calls()).toBe(OPTIMISTIC_ATTEMPTS);
  });

  it('past the limit: 409 with the caller’s detail, and no further attempt', async () => {
    const { attempt, calls } = racing(Number.POSITIVE_INFINITY);
    const error = await retryOptimistic(attempt, { conflict: 'the chat is being changed concurrently; retry' }).catch(
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(DomainError);
    expect(error).toMatchObject({ code: 'conflict', message: 'the chat is being changed concurrently; retry' });
    expect(calls()).toBe(OPTIMISTIC_ATTEMPTS);
  });

  it('honours a smaller limit', async () => {
    const { attempt, calls } = racing(Number.POSITIVE_INFINITY);
    await expect(retryOptimistic(attempt, { conflict: 'x', attempts: 2 })).rejects.toMatchObject({ code: 'conflict' });
    expect(calls()).toBe(2);
  });

  it('an attempt that throws (412, 404, 403) ends the retries with its error', async () => {
    let calls = 0;
    const attempt = async (): Promise<string | typeof RETRY> => {
      calls++;
      if (calls === 2) throw new DomainError('precondition_failed', 'changed since you read it');
      return RETRY;
    };
    await expect(retryOptimistic(attempt, { conflict: 'x' })).rejects.toMatchObject({ code: 'precondition_failed' });
    expect(calls).toBe(2);
  });

  it('returns falsy values as values (only RETRY asks for another round)', async () => {
    await expect(retryOptimistic(async () => undefined, { conflict: 'x' })).resolves.toBeUndefined();
    await expect(retryOptimistic(async () => 0, { conflict: 'x' })).resolves.toBe(0);
  });
});
