import { createParser, type EventSourceMessage } from 'eventsource-parser';
import type { components } from './schema';

type Message = components['schemas']['MessageDto'];
type Exchange = components['schemas']['ExchangeDto'];
type Problem = components['schemas']['ProblemDto'];

/** The events of a reply stream, as openapi.json lists them (`x-sse-events`; a test keeps the two in step). */
export const REPLY_EVENT_NAMES = [
  'message.created',
  'message.started',
  'delta',
  'message.completed',
  'message.cancelled',
  'error',
] as const;

/**
 * One event of a reply stream: `message.created` (the stored user message), `message.started` (the assistant
 * message, generating), `delta` (text; its id is the reply's length after it), then one terminal event:
 * `message.completed`, `message.cancelled` (both the stored assistant message) or `error` (a problem). `id` is
 * what `Last-Event-ID` resumes from.
 */
export type ReplyEvent = { id: string | undefined } & (
  | { event: 'message.created'; data: Message }
  | { event: 'message.started'; data: Message }
  | { event: 'delta'; data: { text: string } }
  | { event: 'message.completed'; data: Message }
  | { event: 'message.cancelled'; data: Message }
  | { event: 'error'; data: Problem }
);

const TERMINAL = new Set<string>(['message.completed', 'message.cancelled', 'error']);

/** A problem response (RFC 9457) of the API, or a failure without one. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly problem: Problem | undefined,
  ) {
    super(problem?.detail ?? problem?.title ?? `HTTP ${status}`);
    this.name = 'ApiError';
  }
}

export interface StreamReplyOptions {
  /** Makes the post safe to repeat; a random key is used when absent (a retried post then attaches, never doubles). */
  idempotencyKey?: string;
  /** Reconnections after a dropped stream before giving up (default 3). */
  maxResumes?: number;
  /** Wait before the n-th reconnection: n times this (default 250 ms). */
  retryDelayMs?: number;
  signal?: AbortSignal;
}

export interface Transport {
  baseUrl: string;
  fetch: typeof globalThis.fetch;
  accessToken: () => string | undefined;
}

async function apiError(response: Response): Promise<ApiError> {
  const type = response.headers.get('content-type') ?? '';
  const body = type.includes('json')
    ? ((await response.json().catch(() => undefined)) as Problem | undefined)
    : undefined;
  return new ApiError(response.status, body);
}

/** The events of an SSE body as they arrive; unknown event names are skipped (a newer server may add some). */
async function* readEvents(body: ReadableStream<Uint8Array>): AsyncGenerator<ReplyEvent> {
  const queue: EventSourceMessage[] = [];
  const parser = createParser({ onEvent: (message) => queue.push(message) });
  const decoder = new TextDecoder();
  const reader = body.getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return;
      parser.feed(decoder.decode(value, { stream: true }));
      for (let message = queue.shift(); message; message = queue.shift()) {
        const event = message.event ?? 'message';
        if (!(REPLY_EVENT_NAMES as readonly string[]).includes(event)) continue;
        yield { event, id: message.id, data: JSON.parse(message.data) as unknown } as ReplyEvent;
      }
    }
  } finally {
    await reader.cancel().catch(() => undefined);
  }
}

function randomKey(): string {
  return `reply-${globalThis.crypto.randomUUID()}`;
}

const delay = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve, reject) => {
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener('abort', () => {
      clearTimeout(timer);
      reject(signal.reason as Error);
    });
  });

/**
 * Posts `content` to a chat with `Accept: text/event-stream` and yields the reply's events until the terminal one.
 * When the connection drops (an error or an end before the terminal event), it reconnects, at most `maxResumes`
 * times: `GET /v1/chats/{chatId}/messages/{messageId}/events` with `Last-Event-ID` once the assistant message is
 * known, else the same post again with the same `Idempotency-Key` (which attaches to the reply already running).
 * No event is yielded twice. A problem before the stream opens throws `ApiError`; an `error` event is yielded.
 */
export async function* streamReply(
  transport: Transport,
  chatId: string,
  content: string,
  options: StreamReplyOptions = {},
): AsyncGenerator<ReplyEvent> {
  const key = options.idempotencyKey ?? randomKey();
  const maxResumes = options.maxResumes ?? 3;
  const base = transport.baseUrl.replace(/\/$/, '');
  const chatPath = `${base}/v1/chats/${encodeURIComponent(chatId)}/messages`;
  const headers = (extra: Record<string, string>) => {
    const token = transport.accessToken();
    return { accept: 'text/event-stream', ...(token ? { authorization: `Bearer ${token}` } : {}), ...extra };
  };
  const post = () =>
    transport.fetch(chatPath, {
      method: 'POST',
      headers: headers({ 'content-type': 'application/json', 'idempotency-key': key }),
      body: JSON.stringify({ content }),
      signal: options.signal,
    });
  let messageId: string | undefined;
  let lastId: string | undefined;
  let offset = -1;
  const seen = new Set<string>();
  const follow = () =>
    transport.fetch(`${chatPath}/${encodeURIComponent(messageId!)}/events`, {
      headers: headers(lastId === undefined ? {} : { 'last-event-id': lastId }),
      signal: options.signal,
    });
  /** Whether the event was yielded already (a re-post replays the stream from its start). */
  const duplicate = (event: ReplyEvent) => {
    if (event.event === 'delta') return Number(event.id) <= offset;
    if (seen.has(event.event)) return true;
    seen.add(event.event);
    return false;
  };

  let response = await post();
  for (let resumes = 0; ; resumes++) {
    if (response.status === 204) return; // the terminal event was already received
    if (!response.ok) throw await apiError(response);
    if ((response.headers.get('content-type') ?? '').startsWith('application/json')) {
      // A replay (201: finished) or a retry attached to a reply still generating (202): the exchange as stored.
      const exchange = (await response.json()) as Exchange;
      const created: ReplyEvent = { event: 'message.created', id: '0', data: exchange.userMessage };
      if (!duplicate(created)) yield created;
      messageId = exchange.assistantMessage.id;
      const final = exchange.assistantMessage;
      if (final.status === 'complete' || final.status === 'incomplete') {
        yield {
          event: final.status === 'complete' ? 'message.completed' : 'message.cancelled',
          id: 'end',
          data: final,
        };
        return;
      }
      response = await follow();
      continue;
    }
    try {
      for await (const event of readEvents(response.body!)) {
        if (duplicate(event)) continue;
        if (event.id !== undefined) lastId = event.id;
        if (event.event === 'delta') offset = Number(event.id);
        if (event.event === 'message.started') messageId = event.data.id;
        yield event;
        if (TERMINAL.has(event.event)) return;
      }
    } catch (error) {
      if (options.signal?.aborted) throw error;
    }
    if (resumes >= maxResumes) throw new Error(`the reply stream dropped ${resumes + 1} times; giving up`);
    await delay((options.retryDelayMs ?? 250) * (resumes + 1), options.signal);
    response = messageId === undefined ? await post() : await follow();
  }
}
