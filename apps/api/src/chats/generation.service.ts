import { type BeforeApplicationShutdown, Injectable, Logger } from '@nestjs/common';
import { AppConfig, FaultHooks } from '@lib/config';
import { DomainError } from '@lib/observability';
import type { TransactItem } from '@lib/tenancy';
import { setTimeout as sleep } from 'node:timers/promises';
import { ulid } from 'ulid';
import type { ChatRecord, GenerationState, MessageRecord, Settlement } from './chat.types';
import { ChatsRepository } from './chats.repository';
import { type FinalReply, type Finisher, GENERATION_TTL_SECONDS, GenerationRepository } from './generation.repository';
import { type LlmMessage, type LlmProvider, LlmProviderError } from './llm/llm-provider';
import { countTokens, MESSAGE_OVERHEAD } from './llm/tokenizer';

/** How a run ended, for its own (POST) stream: the stored message, and the error of a failed one. */
export interface Ended {
  message: MessageRecord;
  error?: DomainError;
}

/** A generation running in this process: the source of the POST stream that started it. */
export interface RunningGeneration {
  /** The text produced so far. */
  text(): string;
  /** Calls `listener` with each new piece and the reply's length after it, until the end; returns an unsubscribe. */
  onText(listener: (piece: string, end: number) => void): () => void;
  /** Resolves once the reply is final and stored (never rejects). */
  readonly done: Promise<Ended>;
}

export interface GenerationStart {
  chat: ChatRecord;
  userMessage: MessageRecord;
  provider: LlmProvider;
  prompt: { messages: LlmMessage[]; tokens: number };
  settlement: Settlement;
  /** The exchange's Idempotency-Key, recording the messages in the same transaction. */
  keyWrite?: (ids: { userMessageId: string; assistantMessageId: string }) => TransactItem;
  /** A keyed retry of a failed reply: the user message is stored already, the failed reply is replaced. */
  retryOf?: MessageRecord;
}

/** The reply's text after `known`, extended by the chunks a read returned (overlaps skipped; stops at a gap). */
export function assemble(known: string, chunks: Array<{ end: number; text: string }>): string {
  let text = known;
  for (const chunk of chunks) {
    const start = chunk.end - chunk.text.length;
    if (chunk.end <= text.length) continue;
    if (start > text.length) break;
    text += chunk.text.slice(text.length - start);
  }
  return text;
}

const timedOut = (error: unknown) => error instanceof LlmProviderError && error.kind === 'timeout';

/**
 * Replies generated independently of the connection that asked for them (docs/streaming.md). The start
 * transaction stores the user message, the assistant message (`generating`) and the generation's state; the
 * provider call then runs to its end (or the maximum duration, or a cancel) whoever listens, and its text is
 * written every GENERATION_FLUSH_MS as a chunk, each flush renewing the run's lease. The final transaction stores
 * the text on the message and settles the usage. A run whose instance died is ended by the first reader that
 * finds its lease run out.
 */
@Injectable()
export class GenerationService implements BeforeApplicationShutdown {
  private readonly logger = new Logger(GenerationService.name);
  /** The runs of this process, with what stops each one. */
  private readonly running = new Map<Promise<Ended>, AbortController>();

  constructor(
    private readonly chats: ChatsRepository,
    private readonly repository: GenerationRepository,
    private readonly config: AppConfig,
    private readonly faults: FaultHooks,
  ) {}

  /**
   * Stores the exchange's messages and starts the provider call; the assistant message as stored, and the run.
   * 404 when the chat is gone.
   */
  async start(input: GenerationStart): Promise<{ assistant: MessageRecord; run: RunningGeneration }> {
    const { chat, userMessage } = input;
    const assistant: MessageRecord = {
      id: ulid(),
      chatId: chat.id,
      role: 'assistant',
      content: '',
      status: 'generating',
      model: chat.model,
      createdAt: new Date().toISOString(),
      ...(userMessage.expiresAt ? { expiresAt: userMessage.expiresAt } : {}),
    };
    const state: GenerationState = {
      status: 'generating',
      runId: ulid(),
      leaseUntil: Date.now() + this.config.generation.leaseMs,
      settlement: input.settlement,
      expiresAt: Math.floor(Date.now() / 1000) + GENERATION_TTL_SECONDS,
    };
    const keyWrite = input.keyWrite?.({ userMessageId: userMessage.id, assistantMessageId: assistant.id });
    const stored = await this.chats.append(
      chat,
      input.retryOf ? [assistant] : [userMessage, assistant],
      [this.repository.stateItem(chat.id, assistant.id, state)],
      keyWrite,
      input.retryOf?.id,
    );
    if (!stored) throw new DomainError('not_found', 'chat not found');
    // Stored, nothing generated yet: a crash here leaves a generation whose lease runs out.
    this.faults.reached('after-user-message');
    return { assistant, run: this.run(input, assistant, state) };
  }

  private run(input: GenerationStart, assistant: MessageRecord, state: GenerationState): RunningGeneration {
    const { flushMs, leaseMs, maxMs } = this.config.generation;
    const listeners = new Set<(piece: string, end: number) => void>();
    const stop = new AbortController();
    let text = '';
    let flushed = 0;
    let lastWrite = Date.now();
    let flushing: Promise<void> | undefined;
    const flush = (): Promise<void> => {
      const pending = text.slice(flushed);
      const start = flushed;
      return this.repository
        .flush(assistant.chatId, assistant.id, state.runId, start, pending, Date.now() + leaseMs)
        .then((held) => {
          flushed = start + pending.length;
          lastWrite = Date.now();
          // Cancelled (from any instance), or no longer this run's: stop the provider; what was produced is kept.
          if (!held) stop.abort();
        })
        .catch((error: Error) => this.logger.warn(`flush of reply ${assistant.id} failed (${error.name}); retrying`));
    };
    // A flush when there is new text, and a renewal (which also learns of a cancel) at least every third of the
    // lease; one write in flight at a time.
    const ticker = setInterval(() => {
      if (flushing) return;
      if (text.length === flushed && Date.now() - lastWrite < Math.min(leaseMs / 3, 750)) return;
      flushing = flush().finally(() => (flushing = undefined));
    }, flushMs);
    const deadline = setTimeout(() => stop.abort(), maxMs);

    const done = (async (): Promise<Ended> => {
      let reply: FinalReply;
      let error: DomainError | undefined;
      try {
        const usage = await input.provider.complete({
          model: input.chat.model,
          messages: input.prompt.messages,
          promptTokens: input.prompt.tokens,
          signal: stop.signal,
          onDelta: (piece) => {
            text += piece;
            for (const listener of listeners) listener(piece, text.length);
          },
        });
        reply = { content: text, status: 'complete', usage, tokens: usage.outputTokens + MESSAGE_OVERHEAD };
      } catch (failure) {
        if (!(failure instanceof LlmProviderError)) this.logger.error(failure);
        const aborted = failure instanceof LlmProviderError && failure.kind === 'aborted';
        if (!aborted) {
          this.logger.warn(`provider ${input.provider.name} failed for reply ${assistant.id}: ${String(failure)}`);
          error = new DomainError(
            timedOut(failure) ? 'upstream_timeout' : 'upstream_failed',
            timedOut(failure) ? 'the model did not answer in time' : 'the model provider failed',
          );
        }
        // Cancelled or stopped: the produced text settles. A failed provider call is not charged.
        const outputTokens = countTokens(text);
        reply = {
          content: text,
          status: aborted ? 'incomplete' : 'failed',
          usage: aborted ? { inputTokens: input.prompt.tokens, outputTokens } : { inputTokens: 0, outputTokens: 0 },
          tokens: outputTokens + MESSAGE_OVERHEAD,
        };
      } finally {
        clearInterval(ticker);
        clearTimeout(deadline);
        listeners.clear();
      }
      await flushing;
      try {
        return { message: await this.end(assistant, state, { runId: state.runId }, reply), error };
      } catch (failure) {
        // The final write kept failing: the lease runs out and the next reader ends the reply with the text its
        // chunks hold. The stream that waits says so.
        this.logger.error(`final write of reply ${assistant.id} failed: ${String(failure)}`);
        return {
          message: { ...assistant, content: text },
          error: new DomainError('unavailable', 'the reply could not be stored; read it again shortly', {
            retryAfterSeconds: 1,
          }),
        };
      }
    })();
    this.running.set(done, stop);
    void done.finally(() => this.running.delete(done));
    return {
      text: () => text,
      onText(listener) {
        listeners.add(listener);
        return () => listeners.delete(listener);
      },
      done,
    };
  }

  /**
   * On shutdown, replies still generating get the rest of the grace period (SHUTDOWN_GRACE_MS after the drain) to
   * finish; then they are stopped and stored as incomplete, rather than left for a reader to end after their lease.
   */
  async beforeApplicationShutdown(): Promise<void> {
    if (this.running.size === 0) return;
    const all = Promise.allSettled([...this.running.keys()]);
    const graceMs = Math.max(0, this.config.shutdownGraceMs - this.config.shutdownDrainMs - 1000);
    const timer = new AbortController();
    const finished = await Promise.race([
      all.then(() => true),
      sleep(graceMs, false, { signal: timer.signal }).catch(() => false),
    ]);
    timer.abort();
    if (finished) return;
    this.logger.warn(`stopping ${this.running.size} replies still generating at shutdown`);
    for (const stop of this.running.values()) stop.abort();
    await all;
  }

  /** Writes the final reply; when someone else ended the generation first, the message as they stored it. */
  private async end(
    message: MessageRecord,
    state: GenerationState,
    finisher: Finisher,
    reply: FinalReply,
  ): Promise<MessageRecord> {
    for (let attempt = 1; ; attempt++) {
      try {
        if (await this.repository.finish(message, state, finisher, reply)) {
          return { ...message, ...reply };
        }
        return (await this.chats.getMessage(message.chatId, message.id)) ?? { ...message, ...reply };
      } catch (error) {
        // The run's own final write is retried (the text is only in this process); a reader's is not needed.
        if (!('runId' in finisher) || attempt >= 5) throw error;
        await sleep(200 * attempt);
      }
    }
  }

  /**
   * The message as a reader should see it: a generating reply with the text written so far, or, when its lease
   * ran out (its instance died), ended here as incomplete first.
   */
  async current(message: MessageRecord): Promise<MessageRecord> {
    if (message.status !== 'generating') return message;
    const read = await this.repository.read(message.chatId, message.id, 0);
    const content = assemble('', read.chunks);
    const ended = await this.endIfLapsed(message, read.state, content);
    return ended ?? { ...message, content };
  }

  /**
   * Ends a generation whose lease ran out as incomplete, settling what it produced (`content`); the final
   * message, or undefined while its run is alive. A state that is gone or final: the message as stored.
   */
  async endIfLapsed(
    message: MessageRecord,
    state: GenerationState | undefined,
    content: string,
  ): Promise<MessageRecord | undefined> {
    if (state?.status === 'generating' && state.leaseUntil > Date.now()) return undefined;
    if (state?.status !== 'generating') {
      const stored = await this.chats.getMessage(message.chatId, message.id);
      return stored?.status === 'generating' ? undefined : stored;
    }
    const outputTokens = countTokens(content);
    return this.end(
      message,
      state,
      { lapsedLease: state.leaseUntil },
      {
        content,
        status: 'incomplete',
        usage: { inputTokens: state.settlement.inputTokens, outputTokens },
        tokens: outputTokens + MESSAGE_OVERHEAD,
      },
    );
  }

  /**
   * Asks a generation to stop, from any instance: its run learns of it at its next write (within
   * GENERATION_FLUSH_MS, or a third of the lease when idle) and stores the partial reply as incomplete. Waits up
   * to a second for that; the message as it then is.
   */
  async cancel(message: MessageRecord): Promise<MessageRecord> {
    if (message.status !== 'generating') return message;
    await this.repository.requestCancel(message.chatId, message.id);
    const deadline = Date.now() + 1000;
    for (;;) {
      const current = await this.current((await this.chats.getMessage(message.chatId, message.id)) ?? message);
      if (current.status !== 'generating' || Date.now() >= deadline) return current;
      await sleep(Math.min(100, this.config.generation.flushMs));
    }
  }
}
