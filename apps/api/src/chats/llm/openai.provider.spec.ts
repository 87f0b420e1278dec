// eslint-disable-next-line no-restricted-imports -- test support lives outside the path aliases
import { type FakeOpenAi, startFakeOpenAi } from '../../../../../test/support/fake-openai';
import { type LlmMessage, LlmProviderError } from './llm-provider';
import { OpenAiProvider } from './openai.provider';
import { countMessageTokens, countTokens } from './tokenizer';

const messages: LlmMessage[] = [
  { role: 'system', content: 'You are terse.' },
  { role: 'user', content: 'Say hello.' },
];

async function failure(promise: Promise<unknown>): Promise<LlmProviderError> {
  try {
    await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(LlmProviderError);
    return error as LlmProviderError;
  }
  throw new Error('expected the call to fail');
}

describe('OpenAiProvider', () => {
  let fake: FakeOpenAi;

  beforeEach(async () => {
    fake = await startFakeOpenAi({
      chunks: ['Hel', 'lo', '', ' there', '.'],
      usage: { prompt_tokens: 21, completion_tokens: 5 },
    });
  });
  afterEach(async () => {
    await fake.close();
  });

  const provider = (timeoutMs = 5000, apiKey?: string) => new OpenAiProvider({ baseUrl: fake.url, apiKey, timeoutMs });

  it('streams the deltas in order and resolves with the usage the server reports', async () => {
    const deltas: string[] = [];
    const usage = await provider().complete({
      model: 'gpt-test',
      messages,
      signal: new AbortController().signal,
      onDelta: (text) => deltas.push(text),
    });
    expect(deltas).toEqual(['Hel', 'lo', ' there', '.']);
    expect(usage).toEqual({ inputTokens: 21, outputTokens: 5 });
  });

  it('sends model, messages, stream and stream_options, with the key as bearer token (placeholder without one)', async () => {
    await provider(5000, 'sk-abc').complete({
      model: 'm1',
      messages,
      signal: new AbortController().signal,
      onDelta: () => {},
    });
    await provider().complete({ model: 'm2', messages, signal: new AbortController().signal, onDelta: () => {} });
    expect(fake.requests).toHaveLength(2);
    expect(fake.requests[0]).toMatchObject({
      model: 'm1',
      messages,
      stream: true,
      stream_options: { include_usage: true },
    });
    expect(fake.requests[1].model).toBe('m2');
    expect(fake.headers[0].authorization).toBe('Bearer sk-abc');
    expect(fake.headers[1].authorization).toBe('Bearer not-needed');
  });

  it('counts the usage itself when the server reports none', async () => {
    fake.usage = null;
    const usage = await provider().complete({
      model: 'm',
      messages,
      signal: new AbortController().signal,
      onDelta: () => {},
    });
    expect(usage).toEqual({
      inputTokens: messages.reduce((n, m) => n + countMessageTokens(m), 0),
      outputTokens: countTokens('Hello there.'),
    });
  });

  it('maps HTTP 500 to upstream, after one retry, without the key or the upstream body in the message', async () => {
    fake.mode = 'error500';
    const error = await failure(
      provider(5000, 'sk-secret-123').complete({
        model: 'm',
        messages,
        signal: new AbortController().signal,
        onDelta: () => {},
      }),
    );
    expect(error.kind).toBe('upstream');
    expect(error.message).toContain('500');
    expect(error.message).not.toContain('sk-secret-123');
    expect(error.message).not.toContain('authorization');
    expect(fake.requests).toHaveLength(2); // maxRetries: 1
    expect(fake.headers[0].authorization).toBe('Bearer sk-secret-123'); // the key was really sent (and echoed)
  });

  it('maps a malformed stream to upstream', async () => {
    fake.mode = 'malformed';
    const error = await failure(
      provider().complete({ model: 'm', messages, signal: new AbortController().signal, onDelta: () => {} }),
    );
    expect(error.kind).toBe('upstream');
    expect(error.message).not.toContain('oops');
  });

  it('maps a refused connection to upstream', async () => {
    const closed = await startFakeOpenAi();
    await closed.close(); // nothing listens on that port any more
    const error = await failure(
      new OpenAiProvider({ baseUrl: closed.url, timeoutMs: 5000 }).complete({
        model: 'm',
        messages,
        signal: new AbortController().signal,
        onDelta: () => {},
      }),
    );
    expect(error.kind).toBe('upstream');
    expect(error.message).toContain('ECONNREFUSED');
  });

  it('maps an AbortSignal.timeout() caller signal to timeout', async () => {
    fake.mode = 'hang';
    const error = await failure(
      provider().complete({ model: 'm', messages, signal: AbortSignal.timeout(100), onDelta: () => {} }),
    );
    expect(error.kind).toBe('timeout');
  });

  it('times out a stream that stalls mid-answer within timeoutMs, and drops the connection', async () => {
    fake.mode = 'hang';
    const deltas: string[] = [];
    const started = Date.now();
    const error = await failure(
      provider(300).complete({
        model: 'm',
        messages,
        signal: new AbortController().signal,
        onDelta: (t) => deltas.push(t),
      }),
    );
    const elapsed = Date.now() - started;
    expect(error.kind).toBe('timeout');
    expect(elapsed).toBeGreaterThanOrEqual(290);
    expect(elapsed).toBeLessThan(300 + 400);
    expect(deltas).toEqual(['Hel']);
    await fake.waitForDisconnects(1);
  });

  it('times out a server that never sends headers within timeoutMs', async () => {
    fake.mode = 'silent';
    const started = Date.now();
    const error = await failure(
      provider(300).complete({ model: 'm', messages, signal: new AbortController().signal, onDelta: () => {} }),
    );
    expect(error.kind).toBe('timeout');
    expect(Date.now() - started).toBeLessThan(300 + 400);
    await fake.waitForDisconnects(1);
    expect(fake.requests).toHaveLength(1); // no retry started after the deadline
  });

  it('bounds the whole stream, not just the first byte', async () => {
    fake.chunkDelayMs = 100; // 7 events, ~700 ms in all
    const deltas: string[] = [];
    const error = await failure(
      provider(300).complete({
        model: 'm',
        messages,
        signal: new AbortController().signal,
        onDelta: (t) => deltas.push(t),
      }),
    );
    expect(error.kind).toBe('timeout');
    expect(deltas.length).toBeGreaterThan(0);
    expect(deltas.length).toBeLessThan(4);
    await fake.waitForDisconnects(1);
  });

  it('maps a caller abort mid-stream to aborted, stops the deltas, and closes the upstream connection', async () => {
    fake.chunkDelayMs = 50;
    const caller = new AbortController();
    const deltas: string[] = [];
    const error = await failure(
      provider().complete({
        model: 'm',
        messages,
        signal: caller.signal,
        onDelta: (t) => {
          deltas.push(t);
          if (deltas.length === 2) caller.abort();
        },
      }),
    );
    expect(error.kind).toBe('aborted');
    expect(deltas).toEqual(['Hel', 'lo']);
    await fake.waitForDisconnects(1);
    expect(fake.completed).toBe(0);
  });

  it('fails at once with aborted when the caller signal is already aborted', async () => {
    const caller = new AbortController();
    caller.abort();
    const error = await failure(
      provider().complete({ model: 'm', messages, signal: caller.signal, onDelta: () => {} }),
    );
    expect(error.kind).toBe('aborted');
    expect(fake.requests).toHaveLength(0);
  });

  it('settles at once when the caller aborts during the retry back-off', async () => {
    fake.mode = 'error500';
    const caller = new AbortController();
    const call = provider().complete({ model: 'm', messages, signal: caller.signal, onDelta: () => {} });
    while (fake.requests.length === 0) await new Promise((r) => setTimeout(r, 5));
    await new Promise((r) => setTimeout(r, 50));
    const started = Date.now();
    caller.abort();
    const error = await failure(call);
    expect(error.kind).toBe('aborted');
    expect(Date.now() - started).toBeLessThan(100);
  });
});
