import { Injectable } from '@nestjs/common';
import { AppConfig } from '@lib/config';
import { DomainError } from '@lib/observability';
import { type Caller, RequestContext } from '@lib/tenancy';
import { LRUCache } from 'lru-cache';
import { ulid } from 'ulid';
import { type ChatRecord, isExpired, type MessageRecord } from './chat.types';
import { ChatsRepository } from './chats.repository';
import { ChatsService, retentionExpiry, toMessageDto } from './chats.service';
import { MAX_CONTENT_CHARS, type MessageDto } from './dto/chat.dto';
import { GenerationService, type RunningGeneration } from './generation.service';
import type { IdempotencyRecord, StoredResponse } from './idempotency.repository';
import { type HeldKey, IdempotencyService } from './idempotency.service';
import { LlmRegistry } from './llm/llm-registry';
import { buildPrompt, type CountedMessage, countMessageTokens } from './llm/tokenizer';
import { MessageRateLimiter } from './message-rate-limiter';
import { QuotaReservation } from './quota-reservation';

const HISTORY_MESSAGES = 50;
/**
 * Output tokens set aside for a reply before it is known (see QuotaReservation): the usual output limit of
 * chat models. A longer reply still settles at its real size.
 */
export const OUTPUT_TOKENS_RESERVED = 4_096;

/**
 * What a POST answers with: a generation it started (running in this process), an exchange that a request with
 * the same Idempotency-Key started (running anywhere, or ended), or a stored response of an earlier version.
 */
export type PostOutcome =
  | { kind: 'started'; userMessage: MessageDto; assistant: MessageRecord; run: RunningGeneration }
  | { kind: 'attached'; userMessage: MessageDto; assistant: MessageRecord }
  | { kind: 'replay'; response: StoredResponse };

/**
 * `POST /v1/chats/{id}/messages`: stores the user message and a `generating` assistant message, and starts the
 * reply (GenerationService) with the recent history that fits the token budget, honouring Idempotency-Key, rate
 * limits and quotas. The reply runs to its end whether or not the client stays.
 */
@Injectable()
export class MessagesService {
  /** Counts of messages stored before counts were stored with them: each counted once per process. */
  private readonly legacyCounts = new LRUCache<string, number>({ max: 10_000 });
  /** The exchange of each chat being stored by this process, that the chat's next exchange waits for. */
  private readonly storing = new Map<string, Promise<unknown>>();

  constructor(
    private readonly chats: ChatsService,
    private readonly repository: ChatsRepository,
    private readonly idempotency: IdempotencyService,
    private readonly generations: GenerationService,
    private readonly limiter: MessageRateLimiter,
    private readonly llm: LlmRegistry,
    private readonly config: AppConfig,
  ) {}

  /**
   * Checks the content's length before anything is read or written (413, not the validation pipe's 400);
   * control characters are refused by the DTO's text rule (common/text.ts), as in every other field.
   */
  validate(content: string): void {
    if (content.length > MAX_CONTENT_CHARS) {
      throw new DomainError('payload_too_large', `content is longer than ${MAX_CONTENT_CHARS} characters`);
    }
  }

  async post(
    caller: Caller,
    chatId: string,
    content: string,
    idempotencyKey: string | undefined,
  ): Promise<PostOutcome> {
    this.validate(content);
    // Counted once, in time linear in its length; stored with the message.
    const tokens = countMessageTokens({ role: 'user', content });
    if (!idempotencyKey) {
      return this.inTurn(chatId, async () => {
        // The chat read and the admission checks (rate limits, quota) go out together, so the first byte waits
        // for the longest of them, not their sum. A 404 wins over a 429.
        const [chat, admission] = await Promise.allSettled([
          this.chats.get(caller, chatId, 'write'),
          this.admit(caller.id, tokens),
        ]);
        if (chat.status === 'rejected') {
          if (admission.status === 'fulfilled') await admission.value.release();
          throw chat.reason;
        }
        if (admission.status === 'rejected') throw admission.reason;
        return this.exchange(
          caller,
          chat.value,
          this.userMessage(chat.value, content, tokens),
          admission.value,
          undefined,
        );
      });
    }
    const chat = await this.chats.get(caller, chatId, 'write');
    return this.idempotency.execute<PostOutcome>(caller.id, idempotencyKey, {
      fingerprint: ['POST', `/v1/chats/${chatId}/messages`, content],
      // Held from the claim until the start transaction records the exchange's messages on the key.
      leaseMs: this.config.idempotencyLeaseMs,
      // The key is claimed outside the turn: a retry with the same key still answers at once (409 or attached).
      run: (held) =>
        this.inTurn(chatId, async () =>
          this.exchange(
            caller,
            chat,
            this.userMessage(chat, content, tokens),
            await this.admit(caller.id, tokens),
            held,
          ),
        ),
      // A stored response of an earlier version of this route.
      replay: async (response) => ({ kind: 'replay', response }),
      attach: (record, held) =>
        record.assistantMessageId ? this.attach(caller, chat, tokens, record, held) : undefined,
    });
  }

  /**
   * A message of a chat the caller may `mode` (the chat's access rule); 404 for a message that is missing,
   * expired, or in a chat the caller may not see. Both items are read at once; nothing is returned before the
   * access check.
   */
  async find(caller: Caller, chatId: string, messageId: string, mode: 'read' | 'write'): Promise<MessageRecord> {
    const [, message] = await Promise.all([
      this.chats.get(caller, chatId, mode),
      this.repository.getMessage(chatId, messageId),
    ]);
    if (!message || isExpired(message)) throw new DomainError('not_found', 'message not found');
    return message;
  }

  /** A reply (an assistant message) the caller may read, for its events and stream tokens; 404 for any other. */
  async findReply(caller: Caller, chatId: string, messageId: string): Promise<MessageRecord> {
    const message = await this.find(caller, chatId, messageId, 'read');
    if (message.role !== 'assistant') throw new DomainError('not_found', 'only a reply has events');
    return message;
  }

  /**
   * The exchange a request with the same key started: its messages, the reply as it is now. A reply that failed
   * (its run gave the key up) is generated again for the stored user message, in place of the failed one.
   */
  private async attach(
    caller: Caller,
    chat: ChatRecord,
    tokens: number,
    record: IdempotencyRecord,
    held: HeldKey | undefined,
  ): Promise<PostOutcome> {
    const [userMessage, assistant] = await Promise.all([
      this.repository.getMessage(chat.id, record.userMessageId!),
      this.repository.getMessage(chat.id, record.assistantMessageId!),
    ]);
    if (!userMessage || !assistant)
      throw new DomainError('not_found', 'the messages of this request have since been deleted');
    if (assistant.status === 'failed' && held) {
      return this.inTurn(chat.id, async () =>
        this.exchange(caller, chat, userMessage, await this.admit(caller.id, tokens), held, assistant),
      );
    }
    return {
      kind: 'attached',
      userMessage: toMessageDto(userMessage),
      assistant: await this.generations.current(assistant),
    };
  }

  /**
   * Starts one exchange, admitted with `reservation`, which is given back on every path out before the
   * generation starts; from then on the generation's final write settles it.
   */
  private async exchange(
    caller: Caller,
    chat: ChatRecord,
    userMessage: MessageRecord,
    reservation: QuotaReservation,
    held: HeldKey | undefined,
    retryOf?: MessageRecord,
  ): Promise<PostOutcome> {
    let sent = false;
    try {
      const recent = await this.repository.recent(chat.id, HISTORY_MESSAGES);
      const history = [...recent.filter((m) => m.id !== userMessage.id), userMessage]
        .filter((m) => !isExpired(m))
        .filter((m) => m.role === 'user' || (m.role === 'assistant' && m.status === 'complete'))
        .slice(-HISTORY_MESSAGES)
        .map((m) => ({ role: m.role as 'user' | 'assistant', content: m.content, tokens: this.tokensOf(m) }));
      const system: CountedMessage | undefined = chat.systemPrompt
        ? {
            role: 'system',
            content: chat.systemPrompt,
            tokens: countMessageTokens({ role: 'system', content: chat.systemPrompt }),
          }
        : undefined;
      const prompt = buildPrompt(system, history, this.config.llm.contextTokens);
      // The admission's estimate leaves the system prompt out; a prompt larger than it sets the rest aside.
      const needed = prompt.tokens + OUTPUT_TOKENS_RESERVED;
      if (needed > reservation.tokens) await reservation.extend(needed - reservation.tokens);
      const { provider } = this.llm.forTenant(RequestContext.tenant());
      sent = true;
      const started = await this.generations.start({
        chat,
        userMessage,
        provider,
        prompt,
        settlement: {
          month: reservation.month,
          userId: caller.id,
          reserved: reservation.tokens,
          inputTokens: prompt.tokens,
        },
        keyWrite: held ? (ids) => this.idempotency.recordMessages(held, ids) : undefined,
        retryOf,
      });
      // A failed reply gives its key up, so that a retry with the key generates it again at once.
      if (held)
        void started.run.done.then(({ message }) =>
          message.status === 'failed' ? this.idempotency.release(held).catch(() => undefined) : undefined,
        );
      return { kind: 'started', userMessage: toMessageDto(userMessage), ...started };
    } catch (error) {
      // Once the start transaction is sent, the reservation is given back only when it was refused: a failure's
      // outcome may be unknown, and a reservation kept only makes the quota stricter until the month ends.
      if (!sent || error instanceof DomainError) await reservation.release();
      throw error;
    }
  }

  private userMessage(chat: ChatRecord, content: string, tokens: number): MessageRecord {
    const expiresAt = retentionExpiry();
    return {
      id: ulid(),
      chatId: chat.id,
      role: 'user',
      content,
      status: 'complete',
      tokens,
      createdAt: new Date().toISOString(),
      ...(expiresAt ? { expiresAt } : {}),
    };
  }

  /**
   * Runs `store` (admission, history read, start transaction: until the generation has started) after the
   * exchanges of the same chat that this process is storing: one at a time per chat and process, in arrival
   * order; the replies themselves then run concurrently.
   *
   * Why: every exchange writes the same hot items — the chat item, the user's and the tenant's rate-limit and
   * month-usage counters — and a burst on one chat sent them all at once. Measured with 40 POSTs at once on one
   * chat through two instances (test/scale/two-instances.e2e-spec.ts, DynamoDB Local on 2 loaded cores): about
   * 330 DynamoDB calls in the burst, the admission UpdateItems queued behind each other for up to 2.3 s each
   * (GetItem up to 0.8 s), and under more load past DYNAMODB_TIMEOUT_MS (3 s): TimeoutError on the counters'
   * UpdateItem, answered 503 (4 of 40 in one local run, 22 of 40 in CI). No TransactionConflict was seen in
   * those runs: the calls were slow, not refused. In turn, at most one exchange per chat and instance is being
   * stored, so each call is short; the burst takes the same total time, spent waiting here, which has no
   * timeout. Different chats are not serialised.
   */
  private async inTurn<T>(chatId: string, store: () => Promise<T>): Promise<T> {
    const key = `${RequestContext.tenant().id}/${chatId}`;
    const previous = this.storing.get(key);
    const result = previous ? previous.then(store, store) : store();
    const settled = result.then(
      () => undefined,
      () => undefined,
    );
    this.storing.set(key, settled);
    void settled.then(() => {
      if (this.storing.get(key) === settled) this.storing.delete(key);
    });
    return result;
  }

  /** The message's stored count; for a message stored before counts were, counted once per process. */
  private tokensOf(message: MessageRecord): number {
    if (message.tokens !== undefined) return message.tokens;
    const key = `${RequestContext.tenant().id}/${message.chatId}/${message.id}`;
    let tokens = this.legacyCounts.get(key);
    if (tokens === undefined) {
      tokens = countMessageTokens(message);
      this.legacyCounts.set(key, tokens);
    }
    return tokens;
  }

  /**
   * Tokens set aside when a message is admitted, before the chat and its history are read: the prompt is at
   * most the context budget, or the new message alone when that is larger (plus the system prompt, added once
   * known), and the reply is assumed to be at most OUTPUT_TOKENS_RESERVED.
   */
  private estimate(messageTokens: number): number {
    return Math.max(this.config.llm.contextTokens, messageTokens) + OUTPUT_TOKENS_RESERVED;
  }

  /**
   * Counts the message against the rate limits and sets its tokens aside against the quotas, at once (429 past
   * either). The reservation is given back when the rate limit refuses.
   */
  private async admit(userId: string, messageTokens: number): Promise<QuotaReservation> {
    const { monthlyTokenQuota, userMonthlyTokenQuota } = RequestContext.tenant().settings;
    const [limited, reserved] = await Promise.allSettled([
      this.limiter.consume(RequestContext.tenant().id, userId),
      QuotaReservation.take(this.repository, userId, this.estimate(messageTokens), {
        tenant: monthlyTokenQuota ?? null,
        user: userMonthlyTokenQuota ?? null,
      }),
    ]);
    if (limited.status === 'rejected') {
      if (reserved.status === 'fulfilled') await reserved.value.release();
      throw limited.reason;
    }
    if (reserved.status === 'rejected') throw reserved.reason;
    return reserved.value;
  }
}
