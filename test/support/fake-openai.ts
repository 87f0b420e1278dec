import { createServer, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * How the fake answers a chat-completions request:
 * - `stream`: the configured chunks as SSE deltas (`chunkDelayMs` apart), a usage chunk when the client asked
 *   for it and `usage` is not null, then `data: [DONE]`. Non-streaming requests get one JSON completion.
 * - `error500`: HTTP 500 with an OpenAI-style JSON error whose message echoes the Authorization header (so a
 *   provider that forwards upstream bodies would leak the key).
 * - `hang`: SSE headers and the first chunk, then nothing, ever (a stalled stream).
 * - `silent`: accepts the request and never answers, not even headers.
 * - `malformed`: SSE headers, then a chunk that is not JSON, then the end of the response.
 */
export type FakeOpenAiMode = 'stream' | 'error500' | 'hang' | 'silent' | 'malformed';

export interface FakeOpenAiUsage {
  prompt_tokens: number;
  completion_tokens: number;
}

export interface FakeOpenAiOptions {
  mode?: FakeOpenAiMode;
  chunks?: string[];
  /** Reported usage; null sends no usage at all (the client must count itself). */
  usage?: FakeOpenAiUsage | null;
  chunkDelayMs?: number;
}

/** The parts of a chat-completions body the tests look at; everything received is kept. */
export interface FakeChatRequest {
  model?: string;
  messages?: { role: string; content: string }[];
  stream?: boolean;
  stream_options?: { include_usage?: boolean };
  [key: string]: unknown;
}

export interface FakeOpenAi {
  /** Base URL for the SDK, ending in /v1. */
  readonly url: string;
  /** Mutable: applies to the next requests (unless `queue` has entries). */
  mode: FakeOpenAiMode;
  /** Modes for the next requests, one each, first in first out; `mode` once empty. */
  queue: FakeOpenAiMode[];
  chunks: string[];
  usage: FakeOpenAiUsage | null;
  chunkDelayMs: number;
  /** Parsed bodies of all chat-completions requests, in arrival order. */
  readonly requests: FakeChatRequest[];
  /** Request headers, same order as `requests`. */
  readonly headers: IncomingHttpHeaders[];
  /** Responses the client walked away from before they finished. */
  readonly disconnects: number;
  /** Responses that were sent to the end. */
  readonly completed: number;
  /** Resolves once `disconnects` reaches `count`; rejects after `timeoutMs`. */
  waitForDisconnects(count: number, timeoutMs?: number): Promise<void>;
  close(): Promise<void>;
}

const DEFAULT_CHUNKS = ['Hello', ', ', 'world', '!'];

/** An OpenAI-compatible chat-completions server on 127.0.0.1 and a free port. No dependencies. */
export async function startFakeOpenAi(behaviour: FakeOpenAiMode | FakeOpenAiOptions = {}): Promise<FakeOpenAi> {
  const options: FakeOpenAiOptions = typeof behaviour === 'string' ? { mode: behaviour } : behaviour;
  const timers = new Set<NodeJS.Timeout>();
  const waiters = new Set<() => void>();
  let disconnects = 0;
  let completed = 0;

  const later = (ms: number, fn: () => void): void => {
    const timer = setTimeout(() => {
      timers.delete(timer);
      fn();
    }, ms);
    timers.add(timer);
  };

  const fake = {
    url: '',
    mode: options.mode ?? 'stream',
    queue: [] as FakeOpenAiMode[],
    chunks: options.chunks ?? DEFAULT_CHUNKS,
    usage: options.usage === undefined ? { prompt_tokens: 11, completion_tokens: 7 } : options.usage,
    chunkDelayMs: options.chunkDelayMs ?? 0,
    requests: [] as FakeChatRequest[],
    headers: [] as IncomingHttpHeaders[],
    get disconnects(): number {
      return disconnects;
    },
    get completed(): number {
      return completed;
    },
    waitForDisconnects(count: number, timeoutMs = 2000): Promise<void> {
      return new Promise<void>((resolve, reject) => {
        const check = (): void => {
          if (disconnects < count) return;
          clearTimeout(timer);
          waiters.delete(check);
          resolve();
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`fake OpenAI saw ${disconnects} disconnect(s), expected ${count}`));
        }, timeoutMs);
        waiters.add(check);
        check();
      });
    },
    close(): Promise<void> {
      for (const timer of timers) clearTimeout(timer);
      timers.clear();
      server.closeAllConnections();
      return new Promise<void>((resolve, reject) => server.close((err) => (err ? reject(err) : resolve())));
    },
  };

  const handle = (req: IncomingMessage, res: ServerResponse, raw: string): void => {
    // Node emits the request's 'close' once its body is read, so the disconnect is seen on the response.
    res.on('close', () => {
      if (res.writableFinished) {
        completed++;
        return;
      }
      disconnects++;
      for (const wake of waiters) wake();
    });

    if (req.method !== 'POST' || !req.url?.startsWith('/v1/chat/completions')) {
      sendJson(res, 404, { error: { message: `no route ${req.method} ${req.url}`, type: 'invalid_request_error' } });
      return;
    }
    let body: FakeChatRequest;
    try {
      body = JSON.parse(raw) as FakeChatRequest;
    } catch {
      sendJson(res, 400, { error: { message: 'body is not JSON', type: 'invalid_request_error' } });
      return;
    }
    fake.requests.push(body);
    fake.headers.push(req.headers);

    const mode = fake.queue.shift() ?? fake.mode;
    const model = body.model ?? 'fake-model';
    const chunks = [...fake.chunks];
    const usage = fake.usage;
    const delay = fake.chunkDelayMs;

    switch (mode) {
      case 'error500':
        sendJson(res, 500, {
          error: {
            message: `The server had an error processing your request (authorization: ${req.headers.authorization ?? 'none'})`,
            type: 'server_error',
            param: null,
            code: null,
          },
        });
        return;
      case 'silent':
        return;
      case 'hang':
        startSse(res);
        res.write(sse(chunk(model, { role: 'assistant', content: chunks[0] ?? '' })));
        return;
      case 'malformed':
        startSse(res);
        res.write(sse(chunk(model, { role: 'assistant', content: '' })));
        res.end('data: {"choices":[{"delta":{"content":"oops"\n\n');
        return;
      case 'stream':
        break;
    }

    if (!body.stream) {
      const content = chunks.join('');
      sendJson(res, 200, {
        id: 'chatcmpl-fake',
        object: 'chat.completion',
        created: now(),
        model,
        choices: [{ index: 0, message: { role: 'assistant', content }, finish_reason: 'stop' }],
        usage: usage ? { ...usage, total_tokens: usage.prompt_tokens + usage.completion_tokens } : undefined,
      });
      return;
    }

    startSse(res);
    const events: string[] = [
      sse(chunk(model, { role: 'assistant', content: '' })),
      ...chunks.map((content) => sse(chunk(model, { content }))),
      sse(chunk(model, {}, 'stop')),
    ];
    if (usage && body.stream_options?.include_usage) {
      const total_tokens = usage.prompt_tokens + usage.completion_tokens;
      events.push(sse({ ...chunk(model), choices: [], usage: { ...usage, total_tokens } }));
    }
    events.push('data: [DONE]\n\n');

    const next = (i: number): void => {
      if (res.destroyed || res.writableEnded) return;
      if (i === events.length) {
        res.end();
        return;
      }
      res.write(events[i]);
      if (delay > 0) later(delay, () => next(i + 1));
      else next(i + 1);
    };
    next(0);
  };

  const server = createServer((req, res) => {
    let raw = '';
    req.setEncoding('utf8');
    req.on('data', (piece: string) => (raw += piece));
    req.on('end', () => handle(req, res, raw));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;

  fake.url = `http://127.0.0.1:${port}/v1`;
  return fake;
}

function now(): number {
  return Math.floor(Date.now() / 1000);
}

function chunk(model: string, delta?: Record<string, unknown>, finishReason: string | null = null) {
  return {
    id: 'chatcmpl-fake',
    object: 'chat.completion.chunk',
    created: now(),
    model,
    choices: delta ? [{ index: 0, delta, finish_reason: finishReason }] : [],
  };
}

function sse(data: unknown): string {
  return `data: ${JSON.stringify(data)}\n\n`;
}

function startSse(res: ServerResponse): void {
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive' });
  res.flushHeaders();
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}
