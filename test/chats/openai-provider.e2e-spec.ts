import { UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { DynamoClients } from '@lib/dynamo';
import { request as httpRequest } from 'node:http';
import request from 'supertest';
import { ulid } from 'ulid';
import { type FakeOpenAi, startFakeOpenAi } from '../support/fake-openai';
import { startApp, type TestApp } from '../support/harness';
import { createTenantWithAdmin, createUser, rolesByName } from '../support/tenants';
import { loginOperator } from '../support/tokens';

const API_KEY = 'sk-test-secret';
const TIMEOUT_MS = 1500;

interface SseEvent {
  event: string;
  data: Record<string, unknown>;
}

interface Message {
  id: string;
  chatId: string;
  role: string;
  content: string;
  status: string;
  model?: string;
  usage?: { inputTokens: number; outputTokens: number };
}

/** Splits an SSE body into `{ event, data }` blocks. */
function parseSse(text: string): SseEvent[] {
  return text
    .trim()
    .split('\n\n')
    .filter((block) => block.trim().length > 0)
    .map((block) => {
      const lines = block.split('\n');
      const event = lines.find((l) => l.startsWith('event: '))?.slice('event: '.length) ?? 'message';
      const data = lines
        .filter((l) => l.startsWith('data: '))
        .map((l) => l.slice('data: '.length))
        .join('\n');
      return { event, data: JSON.parse(data) as Record<string, unknown> };
    });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('chats with an OpenAI-compatible provider (tenant settings.llm → fake server)', () => {
  let t: TestApp;
  let operator: string;
  const fakes: FakeOpenAi[] = [];
  const api = () => request(t.url);

  beforeAll(async () => {
    t = await startApp({
      LOGIN_MAX_FAILURES_PER_IP: '10000',
      CHAT_MESSAGES_PER_MINUTE_PER_USER: '1000',
      CHAT_MESSAGES_PER_MINUTE_PER_TENANT: '10000',
      LLM_TIMEOUT_MS: String(TIMEOUT_MS),
    });
    operator = (await loginOperator(t.url)).accessToken;
  });
  afterAll(async () => {
    await Promise.all(fakes.map((f) => f.close()));
    await t.close();
  });

  /** A fake server, and a tenant the operator points at it; returns a member who can chat. */
  async function setup(options: Parameters<typeof startFakeOpenAi>[0] = {}) {
    const fake = await startFakeOpenAi(options);
    fakes.push(fake);
    const tenant = await createTenantWithAdmin(t.url, operator);
    const patched = await api()
      .patch(`/v1/tenants/${tenant.tenantId}`)
      .auth(operator, { type: 'bearer' })
      .send({ settings: { llm: { provider: 'openai', baseUrl: fake.url, model: 'fake-model', apiKey: API_KEY } } })
      .expect(200);
    expect(JSON.stringify(patched.body)).not.toContain(API_KEY);
    const roles = await rolesByName(t.url, tenant.accessToken);
    const member = await createUser(t.url, tenant.accessToken, tenant.slug, [roles.member]);
    const token = member.accessToken;
    const newChat = async (body: object = {}) => {
      const res = await api().post('/v1/chats').auth(token, { type: 'bearer' }).send(body).expect(201);
      return res.body as { id: string; model: string; messageCount: number };
    };
    const messages = async (chatId: string) => {
      const res = await api()
        .get(`/v1/chats/${chatId}/messages`)
        .query({ limit: 100 })
        .auth(token, { type: 'bearer' })
        .expect(200);
      return res.body.items as Message[];
    };
    const getChat = async (chatId: string) =>
      (await api().get(`/v1/chats/${chatId}`).auth(token, { type: 'bearer' }).expect(200)).body as {
        messageCount: number;
      };
    const post = (chatId: string, content: string) =>
      api().post(`/v1/chats/${chatId}/messages`).auth(token, { type: 'bearer' }).send({ content });
    const postSse = (chatId: string, content: string) =>
      api()
        .post(`/v1/chats/${chatId}/messages`)
        .set('accept', 'text/event-stream')
        .auth(token, { type: 'bearer' })
        .send({ content })
        .buffer(true)
        .parse((response, done) => {
          let text = '';
          response.on('data', (c: Buffer) => (text += c.toString()));
          response.on('end', () => done(null, text));
        });
    return { fake, tenant, token, newChat, messages, getChat, post, postSse };
  }

  it('JSON: the reply is the fake model’s stream; prompt, history, key and usage reach the right places', async () => {
    const s = await setup({
      chunks: ['Hello', ', ', 'world', '!'],
      usage: { prompt_tokens: 11, completion_tokens: 7 },
    });
    const chat = await s.newChat({ title: 'openai', systemPrompt: 'You are a test.' });
    expect(chat.model).toBe('fake-model');

    const first = await s.post(chat.id, 'first question').expect(201);
    expect(first.body.userMessage).toMatchObject({ role: 'user', content: 'first question', status: 'complete' });
    expect(first.body.assistantMessage).toMatchObject({
      chatId: chat.id,
      role: 'assistant',
      content: 'Hello, world!',
      status: 'complete',
      model: 'fake-model',
      usage: { inputTokens: 11, outputTokens: 7 },
    });

    const second = await s.post(chat.id, 'second question').expect(201);
    expect(second.body.assistantMessage.content).toBe('Hello, world!');

    expect(s.fake.requests).toHaveLength(2);
    for (const [i, req] of s.fake.requests.entries()) {
      expect(req.model).toBe('fake-model');
      expect(req.stream).toBe(true);
      expect(s.fake.headers[i].authorization).toBe(`Bearer ${API_KEY}`);
    }
    expect(s.fake.requests[0].messages).toEqual([
      { role: 'system', content: 'You are a test.' },
      { role: 'user', content: 'first question' },
    ]);
    expect(s.fake.requests[1].messages).toEqual([
      { role: 'system', content: 'You are a test.' },
      { role: 'user', content: 'first question' },
      { role: 'assistant', content: 'Hello, world!' },
      { role: 'user', content: 'second question' },
    ]);

    const stored = await s.messages(chat.id);
    expect(stored.map((m) => [m.role, m.content, m.status])).toEqual([
      ['user', 'first question', 'complete'],
      ['assistant', 'Hello, world!', 'complete'],
      ['user', 'second question', 'complete'],
      ['assistant', 'Hello, world!', 'complete'],
    ]);

    const tenant = await api().get(`/v1/tenants/${s.tenant.tenantId}`).auth(operator, { type: 'bearer' }).expect(200);
    expect(tenant.body.settings.llm).toEqual({
      provider: 'openai',
      baseUrl: s.fake.url,
      model: 'fake-model',
      apiKeySet: true,
    });
    expect(tenant.text).not.toContain(API_KEY);
    const list = await api().get('/v1/tenants').auth(operator, { type: 'bearer' }).expect(200);
    expect(list.text).not.toContain(API_KEY);
  });

  it('expired messages (past retention, not yet removed by TTL) never reach the prompt', async () => {
    const s = await setup({ chunks: ['noted'] });
    const chat = await s.newChat();
    await s.post(chat.id, 'old secret').expect(201);
    await s.post(chat.id, 'still current').expect(201);
    const [oldUser, oldReply] = await s.messages(chat.id);
    expect(oldUser.content).toBe('old secret');
    for (const message of [oldUser, oldReply]) {
      await t.app.get(DynamoClients).doc.send(
        new UpdateCommand({
          TableName: s.tenant.tableName,
          Key: { pk: `CHAT#${chat.id}`, sk: `MSG#${message.id}` },
          UpdateExpression: 'SET expiresAt = :past',
          ConditionExpression: 'attribute_exists(pk)',
          ExpressionAttributeValues: { ':past': Math.floor(Date.now() / 1000) - 60 },
        }),
      );
    }
    await s.post(chat.id, 'new question').expect(201);
    expect(s.fake.requests.at(-1)?.messages).toEqual([
      { role: 'user', content: 'still current' },
      { role: 'assistant', content: 'noted' },
      { role: 'user', content: 'new question' },
    ]);
  });

  it('SSE: message.created, one delta per upstream chunk in order, message.completed with usage', async () => {
    const chunks = ['The ', 'quick ', 'brown ', 'fox', '.'];
    const s = await setup({ chunks, usage: { prompt_tokens: 21, completion_tokens: 5 } });
    const chat = await s.newChat();
    const res = await s.postSse(chat.id, 'stream it').expect(200);
    expect(res.headers['content-type']).toContain('text/event-stream');
    const events = parseSse(res.body as string);
    expect(events.map((e) => e.event)).toEqual([
      'message.created',
      'message.started',
      ...chunks.map(() => 'delta'),
      'message.completed',
    ]);
    expect(events[0].data).toMatchObject({ role: 'user', content: 'stream it', chatId: chat.id });
    expect(events.filter((e) => e.event === 'delta').map((e) => e.data)).toEqual(chunks.map((text) => ({ text })));
    expect(events.at(-1)?.data).toMatchObject({
      role: 'assistant',
      content: chunks.join(''),
      status: 'complete',
      model: 'fake-model',
      usage: { inputTokens: 21, outputTokens: 5 },
    });
    const stored = await s.messages(chat.id);
    expect(stored.map((m) => m.content)).toEqual(['stream it', chunks.join('')]);
  });

  it('provider 500: JSON → 502 problem without key or upstream body; user message kept, the reply stored as failed', async () => {
    const s = await setup('error500');
    const chat = await s.newChat();
    const res = await s.post(chat.id, 'will fail').expect(502);
    expect(res.headers['content-type']).toContain('application/problem+json');
    expect(res.body).toMatchObject({ status: 502, instance: `/v1/chats/${chat.id}/messages` });
    expect(s.fake.requests.length).toBeGreaterThanOrEqual(1);
    for (const secret of [API_KEY, 'authorization', 'server had an error', 'server_error'])
      expect(res.text.toLowerCase()).not.toContain(secret.toLowerCase());

    const stored = await s.messages(chat.id);
    expect(stored.map((m) => [m.role, m.content, m.status])).toEqual([
      ['user', 'will fail', 'complete'],
      ['assistant', '', 'failed'],
    ]);
    expect((await s.getChat(chat.id)).messageCount).toBe(2);
  });

  it('provider 500: SSE → message.created then event: error with a 502 problem', async () => {
    const s = await setup('error500');
    const chat = await s.newChat();
    const res = await s.postSse(chat.id, 'will fail too').expect(200);
    expect(res.body as string).not.toContain(API_KEY);
    const events = parseSse(res.body as string);
    expect(events.map((e) => e.event)).toEqual(['message.created', 'message.started', 'error']);
    expect(events[2].data).toMatchObject({ status: 502, instance: `/v1/chats/${chat.id}/messages` });
    const stored = await s.messages(chat.id);
    expect(stored.map((m) => [m.role, m.status])).toEqual([
      ['user', 'complete'],
      ['assistant', 'failed'],
    ]);
  });

  it('provider hangs: JSON → 504 within LLM_TIMEOUT_MS (+ margin); the reply stored as failed', async () => {
    const s = await setup('hang');
    const chat = await s.newChat();
    const started = Date.now();
    const res = await s.post(chat.id, 'hello?').expect(504);
    const elapsed = Date.now() - started;
    expect(elapsed).toBeGreaterThanOrEqual(TIMEOUT_MS - 100);
    expect(elapsed).toBeLessThan(TIMEOUT_MS + 1500);
    expect(res.body).toMatchObject({ status: 504 });
    expect(res.text).not.toContain(API_KEY);
    const stored = await s.messages(chat.id);
    expect(stored.map((m) => [m.role, m.status])).toEqual([
      ['user', 'complete'],
      ['assistant', 'failed'],
    ]);
  });

  it('provider hangs: SSE → event: error with status 504', async () => {
    const s = await setup('hang');
    const chat = await s.newChat();
    const started = Date.now();
    const res = await s.postSse(chat.id, 'hello again?').expect(200);
    expect(Date.now() - started).toBeLessThan(TIMEOUT_MS + 1500);
    const events = parseSse(res.body as string);
    expect(events[0].event).toBe('message.created');
    expect(events.at(-1)?.event).toBe('error');
    expect(events.at(-1)?.data).toMatchObject({ status: 504 });
    // Whatever came before the stall streams through; nothing else.
    expect(events[1].event).toBe('message.started');
    expect(events.slice(2, -1).every((e) => e.event === 'delta')).toBe(true);
  });

  it('provider never answers (no headers): JSON → 504 within LLM_TIMEOUT_MS (+ margin)', async () => {
    const s = await setup('silent');
    const chat = await s.newChat();
    const started = Date.now();
    await s.post(chat.id, 'anyone?').expect(504);
    expect(Date.now() - started).toBeLessThan(TIMEOUT_MS + 1500);
    expect((await s.messages(chat.id)).map((m) => m.status)).toEqual(['complete', 'failed']);
  });

  it('malformed upstream stream: JSON → 502, the reply stored as failed', async () => {
    const s = await setup('malformed');
    const chat = await s.newChat();
    const res = await s.post(chat.id, 'garbage please').expect(502);
    expect(res.text).not.toContain('oops');
    expect((await s.messages(chat.id)).map((m) => m.status)).toEqual(['complete', 'failed']);
  });

  it('client disconnects mid-stream: the reply still runs to its end and is stored complete', async () => {
    const chunks = Array.from({ length: 6 }, (_, i) => `part${i} `);
    const s = await setup({ chunks, chunkDelayMs: 100 });
    const chat = await s.newChat();
    const full = chunks.join('');

    const received = await new Promise<string>((resolve, reject) => {
      const body = JSON.stringify({ content: 'talk slowly' });
      const url = new URL(`/v1/chats/${chat.id}/messages`, t.url);
      const req = httpRequest(
        url,
        {
          method: 'POST',
          headers: {
            authorization: `Bearer ${s.token}`,
            accept: 'text/event-stream',
            'content-type': 'application/json',
            'content-length': Buffer.byteLength(body),
          },
        },
        (res) => {
          if (res.statusCode !== 200) {
            reject(new Error(`status ${res.statusCode}`));
            return;
          }
          let text = '';
          res.on('data', (c: Buffer) => {
            text += c.toString();
            if (text.includes('event: delta')) {
              req.destroy();
              resolve(text);
            }
          });
          res.on('end', () => reject(new Error(`stream ended without a delta: ${text}`)));
        },
      );
      req.on('error', (error) => {
        if (!req.destroyed) reject(error);
      });
      req.end(body);
    });
    expect(received).toContain('event: message.created');

    // The generation does not depend on the connection (docs/streaming.md): the upstream call runs to its end.
    let assistant: Message | undefined;
    const deadline = Date.now() + 5000;
    while (Date.now() < deadline) {
      assistant = (await s.messages(chat.id)).find((m) => m.role === 'assistant' && m.status !== 'generating');
      if (assistant) break;
      await sleep(100);
    }
    expect(assistant).toMatchObject({ status: 'complete', model: 'fake-model', content: full });
    expect(s.fake.completed).toBe(1);
    expect((await s.getChat(chat.id)).messageCount).toBe(2);
  });

  it('idempotent retry after a provider failure: 502, then the same key → 201, the failed reply replaced; one user and one assistant message', async () => {
    const s = await setup('error500');
    const chat = await s.newChat();
    const key = `retry-${ulid()}`;
    const post = () =>
      api()
        .post(`/v1/chats/${chat.id}/messages`)
        .set('idempotency-key', key)
        .auth(s.token, { type: 'bearer' })
        .send({ content: 'retry me' });

    await post().expect(502);
    const failedRequests = s.fake.requests.length;
    s.fake.mode = 'stream';
    const ok = await post().expect(201);
    expect(ok.body.userMessage).toMatchObject({ role: 'user', content: 'retry me' });
    expect(ok.body.assistantMessage).toMatchObject({ role: 'assistant', content: 'Hello, world!', status: 'complete' });
    expect(s.fake.requests.length).toBe(failedRequests + 1);
    // The retried call sent the one stored user message, not two copies.
    expect(s.fake.requests.at(-1)?.messages).toEqual([{ role: 'user', content: 'retry me' }]);

    const stored = await s.messages(chat.id);
    expect(stored.map((m) => [m.role, m.content])).toEqual([
      ['user', 'retry me'],
      ['assistant', 'Hello, world!'],
    ]);
    expect(stored[0].id).toBe(ok.body.userMessage.id);
    expect((await s.getChat(chat.id)).messageCount).toBe(2);

    // A further retry replays the stored response without calling the model.
    const replay = await post().expect(201);
    expect(replay.body).toEqual(ok.body);
    expect(s.fake.requests.length).toBe(failedRequests + 1);
  });
});

describe('a long exchange under an Idempotency-Key (IDEMPOTENCY_LEASE_MS=1000, shorter than the reply)', () => {
  let t: TestApp;
  let fake: FakeOpenAi;
  beforeAll(async () => {
    t = await startApp({ LLM_TIMEOUT_MS: '20000', IDEMPOTENCY_LEASE_MS: '1000' });
    fake = await startFakeOpenAi({ chunks: ['one ', 'two ', 'three ', 'four ', 'five ', 'six'], chunkDelayMs: 600 });
  });
  afterAll(async () => {
    await fake.close();
    await t.close();
  });

  it('a retry with the same key while the first run is still streaming attaches to it (202, the reply so far), not a second exchange', async () => {
    const operator = (await loginOperator(t.url)).accessToken;
    const tenant = await createTenantWithAdmin(t.url, operator);
    await request(t.url)
      .patch(`/v1/tenants/${tenant.tenantId}`)
      .auth(operator, { type: 'bearer' })
      .send({ settings: { llm: { provider: 'openai', baseUrl: fake.url, model: 'fake-model', apiKey: API_KEY } } })
      .expect(200);
    const token = tenant.accessToken;
    const chat = await request(t.url).post('/v1/chats').auth(token, { type: 'bearer' }).send({}).expect(201);
    const key = `slow-${ulid()}`;
    const send = () =>
      request(t.url)
        .post(`/v1/chats/${chat.body.id}/messages`)
        .auth(token, { type: 'bearer' })
        .set('idempotency-key', key)
        .send({ content: 'take your time' });

    const first = send(); // the reply takes about 3.6 s: three and a half leases
    const firstDone = first.then((res) => res);
    await sleep(2500);
    const during = await send();
    expect(during.status).toBe(202); // the exchange's state as it is now: nobody starts another
    expect(during.body.assistantMessage.status).toBe('generating');
    expect('one two three four five six'.startsWith(during.body.assistantMessage.content)).toBe(true);
    const done = await firstDone;
    expect(during.body.userMessage).toEqual(done.body.userMessage);
    expect(done.status).toBe(201);
    expect(done.body.assistantMessage.content).toBe('one two three four five six');
    const replay = await send();
    expect(replay.status).toBe(201);
    expect(replay.body).toEqual(done.body);
    expect(fake.requests).toHaveLength(1); // one provider call for the three requests
    const listed = await request(t.url)
      .get(`/v1/chats/${chat.body.id}/messages`)
      .auth(token, { type: 'bearer' })
      .expect(200);
    expect(listed.body.items.map((m: Message) => m.role)).toEqual(['user', 'assistant']);
  }, 30_000);
});
