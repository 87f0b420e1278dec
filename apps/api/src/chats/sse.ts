import type { FastifyReply, FastifyRequest } from 'fastify';
import { problem } from '../common/problem';
import { renderError } from '../common/problem.filter';

/** A comment line after this long without an event, so that proxies and idle timeouts keep the stream open. */
const HEARTBEAT_MS = 15_000;
/** Sent with the first event: how long an EventSource waits before it reconnects (its default is 3 s or more). */
const RECONNECT_MS = 1000;

/**
 * Server-Sent Events on a Fastify reply: the response opens (200, `text/event-stream`) with the first event, so
 * that problems found before it still answer as plain problem+json responses. Every event carries an `id:`
 * (docs/streaming.md: the reply's character offset, or `end` on the terminal event) for `Last-Event-ID`.
 */
export class SseWriter {
  private open = false;
  private heartbeat: NodeJS.Timeout | undefined;
  /** Aborted when the client goes away (before or after the stream opened). */
  readonly gone: AbortSignal;

  constructor(
    private readonly request: FastifyRequest,
    private readonly reply: FastifyReply,
  ) {
    const gone = new AbortController();
    this.gone = gone.signal;
    reply.raw.once('close', () => {
      if (!reply.raw.writableFinished) gone.abort();
      this.stopHeartbeat();
    });
  }

  get opened(): boolean {
    return this.open;
  }

  send(event: string, data: unknown, id: string | number): void {
    const first = !this.open;
    if (first) this.start();
    this.write(
      `${first ? `retry: ${RECONNECT_MS}\n` : ''}id: ${id}\nevent: ${event}\ndata: ${JSON.stringify(data)}\n\n`,
    );
  }

  /** The `error` event: a problem body, as the same error would have been rendered before the stream opened. */
  sendError(error: unknown): void {
    const rendered = renderError(error, this.request.id);
    this.send(
      'error',
      problem(rendered.status, rendered.detail, this.request.url, this.request.id, rendered.errors),
      'end',
    );
  }

  /**
   * Runs `produce`, then ends the stream. An error before the stream opened is thrown (a plain problem
   * response); after, it becomes the `error` event.
   */
  async stream(produce: () => Promise<void>): Promise<void> {
    try {
      await produce();
    } catch (error) {
      if (!this.open) throw error;
      this.sendError(error);
    }
    this.end();
  }

  private end(): void {
    this.stopHeartbeat();
    if (this.open && !this.reply.raw.destroyed) this.reply.raw.end();
  }

  private start(): void {
    this.reply.hijack();
    this.reply.raw.writeHead(200, {
      ...(this.reply.getHeaders() as Record<string, string>),
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache, no-transform',
      'x-accel-buffering': 'no',
    });
    this.open = true;
    this.heartbeat = setInterval(() => this.write(': keep-alive\n\n'), HEARTBEAT_MS);
    this.heartbeat.unref();
  }

  private write(frame: string): void {
    if (!this.reply.raw.destroyed) this.reply.raw.write(frame);
    this.heartbeat?.refresh();
  }

  private stopHeartbeat(): void {
    if (this.heartbeat) clearInterval(this.heartbeat);
    this.heartbeat = undefined;
  }
}
