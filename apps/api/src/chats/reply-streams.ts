import { Injectable, Logger } from '@nestjs/common';
import { AppConfig } from '@lib/config';
import { DomainError } from '@lib/observability';
import { RequestContext } from '@lib/tenancy';
import { setTimeout as sleep } from 'node:timers/promises';
import type { MessageRecord } from './chat.types';
import { toMessageDto } from './chats.service';
import type { MessageDto } from './dto/chat.dto';
import { GenerationRepository } from './generation.repository';
import { assemble, GenerationService, type RunningGeneration } from './generation.service';
import type { SseWriter } from './sse';

/** Running generations one instance follows at most (one poll each); past it, 503. */
const MAX_FEEDS = 10_000;
/** Failed reads in a row after which a feed ends its followers' streams with the error. */
const POLL_ATTEMPTS = 3;

interface FeedListener {
  /** The reply's whole text known so far (each listener keeps its own offset). */
  text(full: string): void;
  /** The final message, or the error that ended the feed. */
  end(message: MessageRecord | undefined, error?: unknown): void;
}

/**
 * One running generation followed from this instance: a single poll (STREAM_POLL_MS) shared by every follower
 * here, reading DynamoDB (the chunks after what it knows, and the state, in one Query), whichever instance
 * generates. It ends with the generation, or when its last follower leaves.
 */
class Feed {
  private full = '';
  readonly listeners = new Set<FeedListener>();

  constructor(
    private message: MessageRecord,
    private readonly repository: GenerationRepository,
    private readonly generations: GenerationService,
    private readonly pollMs: number,
    private readonly onClose: () => void,
  ) {}

  add(listener: FeedListener): () => void {
    this.listeners.add(listener);
    if (this.full) listener.text(this.full);
    return () => this.listeners.delete(listener);
  }

  async loop(): Promise<void> {
    let ended: MessageRecord | undefined;
    let failures = 0;
    try {
      while (this.listeners.size > 0) {
        try {
          ended = await this.poll();
          failures = 0;
        } catch (error) {
          // A failed read (throttling, a timeout) is tried again at the next poll; a few in a row end the feed.
          if (++failures >= POLL_ATTEMPTS) throw error;
        }
        if (ended) break;
        await sleep(this.pollMs * (failures + 1));
      }
      if (ended) for (const listener of this.listeners) listener.end(ended);
    } catch (error) {
      for (const listener of this.listeners) listener.end(undefined, error);
    } finally {
      this.onClose();
    }
  }

  /** One read: new text goes to every listener; the final message once the generation ended. */
  private async poll(): Promise<MessageRecord | undefined> {
    const read = await this.repository.read(this.message.chatId, this.message.id, this.full.length);
    const full = assemble(this.full, read.chunks);
    if (full !== this.full) {
      this.full = full;
      for (const listener of this.listeners) listener.text(full);
    }
    return this.generations.endIfLapsed(this.message, read.state, full);
  }
}

/**
 * Streams a reply as Server-Sent Events (docs/streaming.md): `message.created` / `message.started` (offset 0),
 * `delta` events whose id is the reply's length after them, then `message.completed`, `message.cancelled` or
 * `error` with id `end`. Live from the process that generates (the POST stream), or followed through DynamoDB
 * from any instance (resumes, retries).
 */
@Injectable()
export class ReplyStreams {
  private readonly logger = new Logger(ReplyStreams.name);
  private readonly feeds = new Map<string, Feed>();

  constructor(
    private readonly repository: GenerationRepository,
    private readonly generations: GenerationService,
    private readonly config: AppConfig,
  ) {}

  /** The POST stream: the exchange's messages, then the run's text as it is produced, then its end. */
  async live(sse: SseWriter, userMessage: MessageDto, assistant: MessageRecord, run: RunningGeneration) {
    sse.send('message.created', userMessage, 0);
    sse.send('message.started', toMessageDto(assistant), 0);
    const unsubscribe = run.onText((text, end) => sse.send('delta', { text }, end));
    const sent = run.text();
    if (sent) sse.send('delta', { text: sent }, sent.length);
    const ended = await run.done;
    unsubscribe();
    this.terminal(sse, ended.message, ended.error);
  }

  /**
   * A resume: the text after `after` (everything, with `message.started` first, when undefined), then the rest
   * as it is produced, then the end. `message` is the assistant message as the caller was authorised to read it.
   */
  async follow(sse: SseWriter, message: MessageRecord, after: number | undefined): Promise<void> {
    // The message as it was when it started, whatever it is now: a replay reads like the live stream.
    if (after === undefined) {
      const { usage: _usage, ...started } = message;
      sse.send('message.started', toMessageDto({ ...started, content: '', status: 'generating' }), 0);
    }
    let offset = after ?? 0;
    const emit = (full: string) => {
      if (full.length <= offset) return;
      sse.send('delta', { text: full.slice(offset) }, full.length);
      offset = full.length;
    };
    if (message.status !== 'generating') {
      emit(message.content);
      this.terminal(sse, message);
      return;
    }
    const ended = await new Promise<{ message?: MessageRecord; error?: unknown }>((resolve) => {
      const leave = this.feedFor(message).add({
        text: emit,
        end: (final, error) => resolve({ message: final, error }),
      });
      sse.gone.addEventListener('abort', () => {
        leave();
        resolve({});
      });
    });
    if (sse.gone.aborted) return;
    if (!ended.message) {
      sse.sendError(ended.error);
      return;
    }
    emit(ended.message.content);
    this.terminal(sse, ended.message);
  }

  private feedFor(message: MessageRecord): Feed {
    const key = `${RequestContext.tenant().id}/${message.id}`;
    let feed = this.feeds.get(key);
    if (!feed) {
      if (this.feeds.size >= MAX_FEEDS) {
        throw new DomainError('unavailable', 'too many replies followed; retry', { retryAfterSeconds: 1 });
      }
      const created = new Feed(message, this.repository, this.generations, this.config.generation.pollMs, () => {
        if (this.feeds.get(key) === created) this.feeds.delete(key);
      });
      this.feeds.set(key, created);
      feed = created;
      // Started after its first follower is added (below, synchronously), so that the loop sees it.
      setImmediate(() => void created.loop().catch((error: Error) => this.logger.error(error)));
    }
    return feed;
  }

  /** The terminal event of a final message: completed, cancelled (incomplete), or an error (failed). */
  private terminal(sse: SseWriter, message: MessageRecord, error?: DomainError): void {
    if (message.status === 'complete') sse.send('message.completed', toMessageDto(message), 'end');
    else if (message.status === 'incomplete') sse.send('message.cancelled', toMessageDto(message), 'end');
    else sse.sendError(error ?? new DomainError('upstream_failed', 'the model provider failed'));
  }
}
