/**
 * Smoke test of the typed client (libs/client) against the running app, as an app developer uses it: an operator
 * onboards a tenant, its admin signs in, creates a chat, streams a reply, streams another one over a connection that
 * drops mid-reply (the client resumes with Last-Event-ID), and lists the messages. Every JSON or problem answer the
 * client receives is also checked against openapi.json.
 */
import { createChatClient, type ReplyEvent } from '../../libs/client/src';
import { ContractChecker } from '../support/contract';
import { OPERATOR_EMAIL, OPERATOR_PASSWORD, startApp, type TestApp } from '../support/harness';
import { tenantBody, uniqueSlug } from '../support/tenants';

const checker = new ContractChecker();

/** Global fetch, with each request recorded and each non-stream answer checked against the contract. */
function recordingFetch(log: Array<{ method: string; url: string; headers: Headers }>): typeof fetch {
  return async (input, init) => {
    const request = new Request(input, init);
    log.push({ method: request.method, url: request.url, headers: request.headers });
    const response = await fetch(request);
    const type = response.headers.get('content-type') ?? undefined;
    if (!type?.startsWith('text/event-stream')) {
      const text = await response.clone().text();
      checker.check(request.method, request.url, response.status, type, text ? JSON.parse(text) : undefined);
    }
    return response;
  };
}

/** Drops the connection of the first reply stream after its first delta, as a flaky network does. */
function droppingFetch(inner: typeof fetch): typeof fetch {
  let dropped = false;
  return async (input, init) => {
    const response = await inner(input, init);
    if (dropped || !(response.headers.get('content-type') ?? '').startsWith('text/event-stream')) return response;
    dropped = true;
    const reader = response.body!.getReader();
    let text = '';
    const body = new ReadableStream<Uint8Array>({
      async pull(controller) {
        const { done, value } = await reader.read();
        if (done) return controller.close();
        controller.enqueue(value);
        text += new TextDecoder().decode(value);
        if (text.includes('event: delta')) {
          await reader.cancel();
          controller.error(new TypeError('network connection lost'));
        }
      },
    });
    return new Response(body, { status: response.status, headers: response.headers });
  };
}

async function collect(stream: AsyncGenerator<ReplyEvent>): Promise<ReplyEvent[]> {
  const events: ReplyEvent[] = [];
  for await (const event of stream) events.push(event);
  return events;
}

function replyText(events: ReplyEvent[]): string {
  return events.flatMap((e) => (e.event === 'delta' ? [e.data.text] : [])).join('');
}

describe('the typed client against the running app', () => {
  let t: TestApp;

  // A slow echo provider, so that a reply is still generating when its connection drops.
  beforeAll(async () => (t = await startApp({ LLM_ECHO_DELAY_MS: '30', STREAM_POLL_MS: '50' })));
  afterAll(() => t?.close());

  it('signs in, creates a chat, streams a reply, resumes a dropped stream, lists the messages', async () => {
    const requests: Array<{ method: string; url: string; headers: Headers }> = [];
    let token: string | undefined;
    const client = createChatClient({ baseUrl: t.url, accessToken: () => token, fetch: recordingFetch(requests) });

    const operator = await client.POST('/v1/platform/auth/login', {
      body: { email: OPERATOR_EMAIL, password: OPERATOR_PASSWORD },
    });
    expect(operator.response.status).toBe(200);
    token = operator.data!.accessToken;
    const slug = uniqueSlug('client');
    const tenant = await client.POST('/v1/tenants', { body: tenantBody(slug) });
    expect(tenant.response.status).toBe(201);
    expect(tenant.response.headers.get('location')).toBe(`/v1/tenants/${tenant.data!.id}`);
    expect(tenant.response.headers.get('etag')).toMatch(/^"\d+"$/);

    const login = await client.POST('/v1/auth/login', {
      body: { tenant: slug, email: `admin@${slug}.test`, password: 'a-very-good-password' },
    });
    expect(login.error).toBeUndefined();
    token = login.data!.accessToken;

    const chat = await client.POST('/v1/chats', { body: { title: 'Smoke' } });
    expect(chat.response.status).toBe(201);
    const chatId = chat.data!.id;

    // A reply streamed in one go.
    const first = await collect(client.streamReply(chatId, 'hello there'));
    expect(first.map((e) => e.event)).toEqual([
      'message.created',
      'message.started',
      ...first.filter((e) => e.event === 'delta').map(() => 'delta'),
      'message.completed',
    ]);
    const completed = first.at(-1)!;
    expect(completed.event === 'message.completed' && completed.data.content).toBe(replyText(first));
    expect(replyText(first)).toContain('You said: hello there');

    // A reply whose connection drops after its first delta: the client resumes from the last event id.
    const resuming = createChatClient({
      baseUrl: t.url,
      accessToken: () => token,
      fetch: droppingFetch(recordingFetch(requests)),
    });
    const second = await collect(resuming.streamReply(chatId, 'tell me more', { retryDelayMs: 10 }));
    const resume = requests.find((r) => r.method === 'GET' && r.url.endsWith('/events'));
    expect(resume?.headers.get('last-event-id')).toMatch(/^\d+$/);
    const last = second.at(-1)!;
    expect(last.event).toBe('message.completed');
    // Nothing lost, nothing repeated: the deltas make up the stored reply.
    expect(last.event === 'message.completed' && last.data.content).toBe(replyText(second));
    expect(replyText(second)).toContain('You said: tell me more');
    expect(second.filter((e) => e.event === 'message.created')).toHaveLength(1);

    const messages = await client.GET('/v1/chats/{chatId}/messages', { params: { path: { chatId } } });
    expect(messages.data!.items.map((m) => [m.role, m.status])).toEqual([
      ['user', 'complete'],
      ['assistant', 'complete'],
      ['user', 'complete'],
      ['assistant', 'complete'],
    ]);
    expect(messages.data!.items[3].content).toBe(replyText(second));
  });
});
