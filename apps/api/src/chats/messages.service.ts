import { Injectable, Logger } from '@nestjs/common';
import { AppConfig, FaultHooks } from '@lib/config';
import { DomainError } from '@lib/observability';
import { type Caller, RequestContext } from '@lib/tenancy';
import { LRUCache } from 'lru-cache';
import { createHash } from 'node:crypto';
import { ulid } from 'ulid';
import { type ChatRecord, isExpired, type MessageRecord } from './chat.types';
import { ChatsRepository } from './chats.repository';
import { ChatsService, retentionExpiry, toMessageDto } from './chats.service';
import { type ExchangeDto, MAX_CONTENT_CHARS, type MessageDto } from './dto/chat.dto';
import { type IdempotencyRecord, IdempotencyRepository, type StoredResponse } from './idempotency.repository';
import { LlmProviderError, type LlmUsage } from './llm/llm-provider';
import { LlmRegistry } from './llm/llm-registry';
import { buildPrompt, type CountedMessage, countMessageTokens, countTokens, MESSAGE_OVERHEAD } from './llm/tokenizer';
import { MessageRateLimiter } from './message-rate-limiter';
import { QuotaReservation } from './quota-reservation';

const HISTORY_MESSAGES = 50;
/**
 * Output tokens set aside for a reply before it is known (see QuotaReservation): the usual output limit of
 * chat models. A longer reply still settles at its real size.
 */
export const OUTPUT_TOKENS_RESERVED = 4_096;

/** Where the exchange goes as it happens: JSON callers ignore it, SSE callers stream it. */
export interface ExchangeSink {
  /** Aborted when the client goes away. */
  signal: AbortSignal;
  onUserMessage(message: MessageDto): void;
  onDelta(text: string): void;
}

export type ExchangeOutcome = { kind: 'done'; response: StoredResponse } | { kind: 'replay'; response: StoredResponse };

/**
 * `POST /v1/chats/{id}/messages`: stores the user message, asks the tenant's LLM with the recent history that
 * fits the token budget, stores the assistant reply with its usage (and the month's counters, in the same
 * transaction), honouring Idempotency-Key, rate limits and quotas.
 */
@Injectable()
export class MessagesService {
  private readonly logger = new Logger(MessagesService.name);
  /** Counts of messages stored before counts were stored with them: each counted once per process. */
  private readonly legacyCounts = new LRUCache<string, number>({ max: 10_000 });

  constructor(
    private readonly chats: ChatsService,
    private readonly repository: ChatsRepository,
    private readonly idempotency: IdempotencyRepository,
    private readonly limiter: MessageRateLimiter,
    private readonly llm: LlmRegistry,
    private readonly config: AppConfig,
    private readonly faults: FaultHooks,
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
    sink: ExchangeSink,
  ): Promise<ExchangeOutcome> {
    this.validate(content);
    // Counted once, in time linear in its length; stored with the message.
    const tokens = countMessageTokens({ role: 'user', content });
    if (!idempotencyKey) {
      // Nothing to resume or replay: the chat read and the admission checks (rate limits, quota) go out
      // together, so the first byte waits for the longest of them, not their sum. A 404 wins over a 429.
      const [chat, admission] = await Promise.allSettled([
        this.chats.get(caller, chatId, 'write'),
        this.admit(caller.id, tokens),
      ]);
      if (chat.status === 'rejected') {
        if (admission.status === 'fulfilled') await admission.value.release();
        throw chat.reason;
      }
      if (admission.status === 'rejected') throw admission.reason;
      const response = await this.exchange(
        caller,
        chat.value,
        content,
        tokens,
        admission.value,
        undefined,
        undefined,
        sink,
      );
      return { kind: 'done', response };
    }
    const chat = await this.chats.get(caller, chatId, 'write');
    const bodyHash = createHash('sha256')
      .update(JSON.stringify(['POST', `/v1/chats/${chatId}/messages`, content]))
      .digest('base64url');
    const leaseMs = this.config.idempotencyLeaseMs;
    const result = await this.idempotency.claim(caller.id, idempotencyKey, bodyHash, leaseMs);
    if (result.kind === 'replay') return { kind: 'replay', response: result.response };
    if (result.kind === 'mismatch')
      throw new DomainError('unprocessable', 'this Idempotency-Key was used with another request');
    if (result.kind === 'in_progress')
      throw new DomainError('conflict', 'a request with this Idempotency-Key is in progress');
    // A short lease, renewed while the exchange runs: after a crash a retry waits at most one lease.
    const stopRenewing = this.renewWhileRunning(caller.id, idempotencyKey, result.record.claimId, leaseMs, chatId);
    try {
      const response = await this.exchange(
        caller,
        chat,
        content,
        tokens,
        undefined,
        idempotencyKey,
        result.record,
        sink,
      ).finally(stopRenewing);
      return { kind: 'done', response };
    } catch (error) {
      // Nothing final was written: a retry with the same key resumes (the stored user message is reused).
      await this.idempotency.release(caller.id, idempotencyKey, result.record.claimId).catch(() => undefined);
      throw error;
    }
  }

  /** Renews the key's lease every third of it until the returned function is called, or until it is taken over. */
  private renewWhileRunning(
    userId: string,
    idempotencyKey: string,
    claimId: string,
    leaseMs: number,
    chatId: string,
  ): () => void {
    const timer = setInterval(
      () => {
        this.idempotency.renew(userId, idempotencyKey, claimId, leaseMs).then(
          (held) => {
            if (held) return;
            clearInterval(timer); // a retry took the lapsed lease over: this run's final write will be refused
            this.logger.warn(`idempotency lease of an exchange in chat ${chatId} was taken over`);
          },
          (error: Error) => this.logger.warn(`idempotency lease renewal failed (${error.name}); retrying`),
        );
      },
      Math.floor(leaseMs / 3),
    );
    timer.unref();
    return () => clearInterval(timer);
  }

  /**
   * One exchange. `reservation` is the admission's (without an Idempotency-Key); with a key, admission happens
   * here. Every path out gives the reservation back, except the final write, which settles it.
   */
  private async exchange(
    caller: Caller,
    chat: ChatRecord,
    content: string,
    tokens: number,
    admitted: QuotaReservation | undefined,
    idempotencyKey: string | undefined,
    claim: IdempotencyRecord | undefined,
    sink: ExchangeSink,
  ): Promise<StoredResponse> {
    let reservation = admitted;
    try {
      const tenant = RequestContext.tenant();
      const resumedUserMessage = claim?.userMessageId
        ? await this.repository.getMessage(chat.id, claim.userMessageId)
        : undefined;
      // With an Idempotency-Key, admission is checked here, once the claim says this is not a resumed exchange;
      // a resumed exchange was admitted by its first run, and sets its tokens aside without a check.
      if (idempotencyKey && !resumedUserMessage) reservation = await this.admit(caller.id, tokens);
      if (resumedUserMessage)
        reservation = await QuotaReservation.take(this.repository, caller.id, this.estimate(tokens), {
          tenant: null,
          user: null,
        });
      const expiresAt = retentionExpiry();
      const userMessage: MessageRecord = resumedUserMessage ?? {
        id: ulid(),
        chatId: chat.id,
        role: 'user',
        content,
        status: 'complete',
        tokens,
        createdAt: new Date().toISOString(),
        ...(expiresAt ? { expiresAt } : {}),
      };
      // The history is read while the user message is written (one round trip less before the first delta);
      // the user message is then put last, whether or not the read already saw it.
      const recent = this.repository.recent(chat.id, HISTORY_MESSAGES);
      recent.catch(() => undefined); // awaited below; a failed write must not leave it unhandled
      if (!resumedUserMessage) {
        const recorded =
          idempotencyKey && claim
            ? this.idempotency.recordUserMessage(caller.id, idempotencyKey, claim.claimId, userMessage.id)
            : undefined;
        if (!(await this.repository.append(chat, userMessage, undefined, recorded))) {
          throw new DomainError('not_found', 'chat not found');
        }
        // Stored, nothing answered yet: a crash here leaves the message and the Idempotency-Key's lease behind.
        this.faults.reached('after-user-message');
      }
      sink.onUserMessage(toMessageDto(userMessage));

      const history = [...(await recent).filter((m) => m.id !== userMessage.id), userMessage]
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
      if (reservation && needed > reservation.tokens) await reservation.extend(needed - reservation.tokens);
      const { provider } = this.llm.forTenant(tenant);
      const parts: string[] = [];
      let usage: LlmUsage;
      let status: MessageRecord['status'] = 'complete';
      try {
        usage = await provider.complete({
          model: chat.model,
          messages: prompt.messages,
          promptTokens: prompt.tokens,
          signal: sink.signal,
          onDelta: (text) => {
            parts.push(text);
            sink.onDelta(text);
          },
        });
      } catch (error) {
        if (!(error instanceof LlmProviderError)) throw error;
        if (error.kind !== 'aborted') {
          this.logger.warn(`provider ${provider.name} failed (${error.kind}) for chat ${chat.id}: ${error.message}`);
          throw new DomainError(
            error.kind === 'timeout' ? 'upstream_timeout' : 'upstream_failed',
            error.kind === 'timeout' ? 'the model did not answer in time' : 'the model provider failed',
          );
        }
        // The client went away: keep what was streamed, marked incomplete.
        status = 'incomplete';
        usage = { inputTokens: prompt.tokens, outputTokens: countTokens(parts.join('')) };
      }
      const assistant: MessageRecord = {
        id: ulid(),
        chatId: chat.id,
        role: 'assistant',
        content: parts.join(''),
        status,
        model: chat.model,
        usage,
        // The reply's count is its output tokens (counted once, by the provider or above).
        tokens: usage.outputTokens + MESSAGE_OVERHEAD,
        createdAt: new Date().toISOString(),
        ...(expiresAt ? { expiresAt } : {}),
      };
      const body: ExchangeDto = { userMessage: toMessageDto(userMessage), assistantMessage: toMessageDto(assistant) };
      const response: StoredResponse = { status: 201, body };
      // With a key, the response is stored for replays in the assistant message's own transaction.
      const completion =
        idempotencyKey && claim
          ? this.idempotency.completion(caller.id, idempotencyKey, claim.claimId, response)
          : undefined;
      // The usage replaces the reservation in the same transaction. Once this write is sent, the reservation is
      // not given back even if it fails: its outcome may be unknown, and a reservation kept only makes the
      // quota stricter until the month ends.
      const settled = reservation;
      reservation = undefined;
      await this.repository.append(
        chat,
        assistant,
        { month: settled!.month, userId: caller.id, ...usage, reserved: settled!.tokens },
        completion,
      );
      return response;
    } catch (error) {
      await reservation?.release();
      throw error;
    }
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
