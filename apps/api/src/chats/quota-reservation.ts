import { Logger } from '@nestjs/common';
import { Entities } from '@lib/dynamo';
import { DomainError } from '@lib/observability';
import type { ChatsRepository, UsageScope } from './chats.repository';

export interface Quotas {
  /** The tenant's monthly token quota (null: none). */
  tenant: number | null;
  /** Each user's monthly token quota (null: none). */
  user: number | null;
}

const currentMonth = () => new Date().toISOString().slice(0, 7);

/**
 * Tokens set aside on the month's usage counters (the tenant's TOTAL and the user's) for one exchange in
 * flight, taken atomically with the quota checks (ChatsRepository.reserve). The exchange's final write
 * settles it (the real usage replaces it); a failed exchange gives it back.
 *
 * Bound: a request is admitted while settled usage plus reservations in flight is below the quota, so
 * concurrent requests end at most one exchange past the quota, as sequential ones do (as long as each reply
 * stays within the reservation's output allowance). A process that dies mid-exchange leaves its reservation
 * counted (the counter's `reserved` shows it) until the month's counters are left behind at the end of the
 * month: it only makes that month's quota stricter, never looser.
 */
export class QuotaReservation {
  private static readonly logger = new Logger(QuotaReservation.name);
  private released = false;

  private constructor(
    private readonly repository: ChatsRepository,
    private readonly userId: string,
    /** The month the reservation (and so its settlement) belongs to, even if the exchange runs past it. */
    readonly month: string,
    private amount: number,
  ) {}

  get tokens(): number {
    return this.amount;
  }

  /** Reserves `tokens` on both counters; 429 `quota exceeded` (nothing kept) when either quota is used up. */
  static async take(
    repository: ChatsRepository,
    userId: string,
    tokens: number,
    quotas: Quotas,
    month = currentMonth(),
  ): Promise<QuotaReservation> {
    const scopes: Array<[UsageScope, number | null]> = [
      ['TOTAL', quotas.tenant],
      [Entities.usage.userScope(userId), quotas.user],
    ];
    const results = await Promise.allSettled(
      scopes.map(([scope, quota]) => repository.reserve(month, scope, tokens, quota)),
    );
    const taken = scopes.filter((_, i) => results[i].status === 'fulfilled' && results[i].value);
    if (taken.length === scopes.length) return new QuotaReservation(repository, userId, month, tokens);
    await Promise.all(taken.map(([scope]) => QuotaReservation.giveBack(repository, month, scope, tokens)));
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
    throw new DomainError('quota_exceeded', 'quota exceeded');
  }

  /** Sets `tokens` more aside, without a quota check (the exchange is already admitted). */
  async extend(tokens: number): Promise<void> {
    await QuotaReservation.take(this.repository, this.userId, tokens, { tenant: null, user: null }, this.month);
    this.amount += tokens;
  }

  /** Gives the reservation back, once; a failure is logged (the reservation then stays until the month ends). */
  async release(): Promise<void> {
    if (this.released) return;
    this.released = true;
    await Promise.all(
      (['TOTAL', Entities.usage.userScope(this.userId)] as const).map((scope) =>
        QuotaReservation.giveBack(this.repository, this.month, scope, this.amount),
      ),
    );
  }

  private static async giveBack(repository: ChatsRepository, month: string, scope: UsageScope, tokens: number) {
    await repository.release(month, scope, tokens).catch((error: Error) => {
      QuotaReservation.logger.warn(`could not give back a reservation of ${tokens} tokens (${error.name})`);
    });
  }
}
