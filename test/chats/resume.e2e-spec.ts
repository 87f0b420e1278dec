/**
 * Resumable generation (docs/streaming.md) across two app instances on one DynamoDB: a reply runs on whichever
 * instance started it, whoever listens; its events are numbered and resumable from the other instance, which
 * reads DynamoDB only; cancel works from either; keyed retries attach instead of duplicating; a SIGKILLed
 * generating process leaves its reply incomplete within the lease, never stuck in `generating`.
 */
import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { DynamoClients, Entities } from '@lib/dynamo';
import { EventSource } from 'eventsource';
import { request as httpRequest } from 'node:http';
import request from 'supertest';
import { ulid } from 'ulid';
import { startApp, type TestApp, uniquePrefix } from '../support/harness';
import {
  apiBuilt,
  apiEnv,
  metricValue,
  parseSse,
  type SseEvent,
  startApi,
  stopAllApis,
  waitFor,
} from '../support/processes';
import { createTenantWithAdmin, createUser, rolesByName, type TenantSession } from '../support/tenants';
import { loginOperator } from '../support/tokens';
import { MetricsService } from '@lib/observability';

interface Message {
  id: string;
  role: string;
  content: string;
  status: string;
}

/** An SSE response read as it arrives; `close()` drops the connection as a client that goes away does. */
interface OpenStream {
  status: Promise<number>;
  events(): SseEvent[];
  /** Resolves with the events once `predicate` holds for them (or the stream ended). */
  until(predicate: (events: SseEvent[]) => boolean): Promise<SseEvent[]>;
  ended: Promise<SseEvent[]>;
  close(): void;
}

function openStream(
  baseUrl: string,
  path: string,
  token: string,
  opts: { method?: string; body?: unknown; headers?: Record<string, string> } = {},
): OpenStream {
  let text = '';
  const waiters: Array<() => void> = [];
  const payload = opts.body === undefined ? undefined : JSON.stringify(opts.body);
  const req = httpRequest(new URL(path, baseUrl), {
    method: opts.method ?? 'GET',
    agent: false,
    headers: {
      accept: 'text/event-stream',
      authorization: `Bearer ${token}`,
      ...(payload ? { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(payload)) } : {}),
      ...opts.headers,
    },
  });
  let finished = false;
  const notify = () => waiters.splice(0).forEach((w) => w());
  const status = new Promise<number>((resolve, reject) => {
    req.once('response', (res) => {
      resolve(res.statusCode ?? 0);
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        text += chunk;
        notify();
      });
      res.on('end', () => {
        finished = true;
        notify();
      });
      res.on('error', () => undefined);
    });
    req.once('error', (error) => {
      finished = true;
      notify();
      reject(error);
    });
  });
  status.catch(() => undefined);
  req.end(payload);
  const events = () => parseSse(text.slice(0, text.lastIndexOf('\n\n') + 2));
  const until = (predicate: (events: SseEvent[]) => boolean) =>
    new Promise<SseEvent[]>((resolve) => {
      const check = () => {
        if (predicate(events()) || finished) resolve(events());
        else waiters.push(check);
      };
      check();
    });
  return {
    status,
    events,
    until,
    ended: until(() => false),
    close: () => {
      finished = true;
      req.destroy();
      notify();
    },
  };
}

/** The reply's text from a stream's deltas. */
const textOf = (events: SseEvent[]) =>
  events
    .filter((e) => e.event === 'delta')
    .map((e) => (e.data as { text: string }).text)
    .join('');
const deltas = (n: number) => (events: SseEvent[]) => events.filter((e) => e.event === 'delta').length >= n;

/** A prompt whose echo takes `words` words (each LLM_ECHO_DELAY_MS apart). */
const wordy = (words: number) => Array.from({ length: words }, (_, i) => `w${i}`).join(' ');

const ECHO_DELAY_MS = '10';

describe('resumable generation across two instances', () => {
  const prefix = uniquePrefix();
  const env = {
    TABLE_PREFIX: prefix,
    LOGIN_MAX_FAILURES_PER_IP: '10000',
    CHAT_MESSAGES_PER_MINUTE_PER_USER: '1000',
    CHAT_MESSAGES_PER_MINUTE_PER_TENANT: '10000',
    LLM_ECHO_DELAY_MS: ECHO_DELAY_MS,
    GENERATION_FLUSH_MS: '50',
    STREAM_POLL_MS: '50',
  };
  let a: TestApp;
  let b: TestApp;
  let operator: string;
  let acme: TenantSession;
  let member: { id: string; accessToken: string };
  let other: { id: string; accessToken: string };
  let stranger: TenantSession;

  beforeAll(async () => {
    a = await startApp(env);
    b = await startApp(env);
    operator = (await loginOperator(a.url)).accessToken;
    acme = await createTenantWithAdmin(a.url, operator);
    const roles = await rolesByName(a.url, acme.accessToken);
    member = await createUser(a.url, acme.accessToken, acme.slug, [roles.member]);
    other = await createUser(a.url, acme.accessToken, acme.slug, [roles.member]);
    stranger = await createTenantWithAdmin(a.url, operator);
  }, 60_000);
  afterAll(async () => {
    await stopAllApis(5_000);
    await Promise.all([a?.close(), b?.close()]);
  }, 30_000);

  const api = (t: TestApp) => request(t.url);
  const newChat = async (token = member.accessToken) =>
    (await api(a).post('/v1/chats').auth(token, { type: 'bearer' }).send({}).expect(201)).body.id as string;
  const getMessage = async (t: TestApp, chatId: string, messageId: string, token = member.accessToken) =>
    (await api(t).get(`/v1/chats/${chatId}/messages/${messageId}`).auth(token, { type: 'bearer' }).expect(200))
      .body as Message;
  const messagesOf = async (chatId: string) =>
    (await api(b).get(`/v1/chats/${chatId}/messages`).auth(member.accessToken, { type: 'bearer' }).expect(200)).body
      .items as Message[];
  const post = (t: TestApp, chatId: string, content: string, headers: Record<string, string> = {}) =>
    openStream(t.url, `/v1/chats/${chatId}/messages`, member.accessToken, {
      method: 'POST',
      body: { content },
      headers,
    });
  /** A JSON POST with an Idempotency-Key (a client's retry). */
  const postKeyed = (t: TestApp, chatId: string, content: string, key: string) =>
    api(t)
      .post(`/v1/chats/${chatId}/messages`)
      .set('idempotency-key', key)
      .auth(member.accessToken, { type: 'bearer' })
      .send({ content });
  const resume = (t: TestApp, chatId: string, messageId: string, headers: Record<string, string> = {}) =>
    openStream(t.url, `/v1/chats/${chatId}/messages/${messageId}/events`, member.accessToken, { headers });
  const untilFinal = (chatId: string, messageId: string) =>
    waitFor(
      async () => {
        const message = await getMessage(b, chatId, messageId);
        return message.status !== 'generating' && message;
      },
      15_000,
      50,
    );
  const startedId = (events: SseEvent[]) => (events.find((e) => e.event === 'message.started')?.data as Message).id;

  it('drop after three deltas on A, resume on B with Last-Event-ID: no gap, no repeat, equals the stored reply', async () => {
    const chatId = await newChat();
    const first = post(a, chatId, wordy(30));
    expect(await first.status).toBe(200);
    const seen = await first.until(deltas(3));
    first.close();
    const received = seen.filter((e) => e.event === 'delta').slice(0, 3);
    const lastId = received.at(-1)!.id!;
    expect(Number(lastId)).toBe(textOf(received).length);
    const messageId = startedId(seen);

    const resumed = await resume(b, chatId, messageId, { 'last-event-id': lastId }).ended;
    expect(resumed.some((e) => e.event === 'message.started')).toBe(false);
    expect(resumed.at(-1)).toMatchObject({ event: 'message.completed', id: 'end' });
    const assembled = textOf(received) + textOf(resumed);
    const stored = await getMessage(b, chatId, messageId);
    expect(stored.status).toBe('complete');
    expect(assembled).toBe(stored.content);
    expect(stored.content).toContain(wordy(30));
    // The ids go on from where the first stream stopped.
    const ids = resumed.filter((e) => e.event === 'delta').map((e) => Number(e.id));
    expect(ids[0]).toBeGreaterThan(Number(lastId));
    expect(ids.at(-1)).toBe(stored.content.length);
    // `?after=` is the same position for clients that cannot set the header.
    const viaQuery = await openStream(
      b.url,
      `/v1/chats/${chatId}/messages/${messageId}/events?after=${lastId}`,
      member.accessToken,
    ).ended;
    expect(textOf(viaQuery)).toBe(stored.content.slice(Number(lastId)));
    expect((await messagesOf(chatId)).map((m) => m.role)).toEqual(['user', 'assistant']);
  });

  it('drop, the reply completes without anyone listening, resume: full replay; after the terminal event, 204', async () => {
    const chatId = await newChat();
    const first = post(a, chatId, wordy(10));
    const seen = await first.until((events) => events.some((e) => e.event === 'message.started'));
    first.close();
    const messageId = startedId(seen);
    const stored = await untilFinal(chatId, messageId);
    expect(stored.status).toBe('complete');

    const replay = await resume(b, chatId, messageId).ended;
    expect(replay.map((e) => [e.event, e.id])).toEqual([
      ['message.started', '0'],
      ['delta', String(stored.content.length)],
      ['message.completed', 'end'],
    ]);
    expect(replay[0].data).toEqual({ ...stored, content: '', status: 'generating', usage: undefined });
    expect(textOf(replay)).toBe(stored.content);
    expect(replay.at(-1)?.data).toEqual(stored);
    await api(b)
      .get(`/v1/chats/${chatId}/messages/${messageId}/events`)
      .set('last-event-id', 'end')
      .auth(member.accessToken, { type: 'bearer' })
      .expect(204);
    await api(b)
      .get(`/v1/chats/${chatId}/messages/${messageId}/events`)
      .set('last-event-id', 'nonsense')
      .auth(member.accessToken, { type: 'bearer' })
      .expect(400);
  });

  it('cancel from B while A generates: the partial reply is stored as incomplete; the streams end with message.cancelled', async () => {
    const chatId = await newChat();
    const first = post(a, chatId, wordy(200));
    const seen = await first.until(deltas(2));
    const messageId = startedId(seen);
    const follower = resume(b, chatId, messageId);
    await follower.until(deltas(1));

    const cancelled = await api(b)
      .post(`/v1/chats/${chatId}/messages/${messageId}/cancel`)
      .auth(member.accessToken, { type: 'bearer' });
    expect([200, 202]).toContain(cancelled.status);
    const stored = await untilFinal(chatId, messageId);
    expect(stored.status).toBe('incomplete');
    expect(stored.content.length).toBeGreaterThan(0);
    expect(stored.content).not.toContain(wordy(200));

    const own = await first.ended;
    expect(own.at(-1)).toMatchObject({ event: 'message.cancelled', id: 'end' });
    expect(textOf(own)).toBe(stored.content);
    const followed = await follower.ended;
    expect(followed.at(-1)?.event).toBe('message.cancelled');
    expect(textOf(followed)).toBe(stored.content);
    // Cancelling again changes nothing.
    const again = await api(a)
      .post(`/v1/chats/${chatId}/messages/${messageId}/cancel`)
      .auth(member.accessToken, { type: 'bearer' })
      .expect(200);
    expect(again.body).toEqual(stored);
  });

  it("another user's or another tenant's message → 404 on read, events and cancel; nothing changes", async () => {
    const chatId = await newChat();
    const first = post(a, chatId, wordy(60));
    const seen = await first.until(deltas(1));
    const messageId = startedId(seen);
    const paths = [
      ['get', `/v1/chats/${chatId}/messages/${messageId}`],
      ['get', `/v1/chats/${chatId}/messages/${messageId}/events`],
      ['post', `/v1/chats/${chatId}/messages/${messageId}/cancel`],
      // Someone else's message id under one's own chat.
      ['get', `/v1/chats/${await newChat(other.accessToken)}/messages/${messageId}/events`],
    ] as const;
    for (const token of [other.accessToken, stranger.accessToken]) {
      for (const [method, path] of paths) {
        const res = await api(b)[method](path).auth(token, { type: 'bearer' }).set('accept', 'text/event-stream');
        expect(res.status).toBe(404);
        expect(res.headers['content-type']).toContain('application/problem+json');
      }
    }
    const own = await first.ended;
    expect(own.at(-1)?.event).toBe('message.completed');
  });

  it('the same Idempotency-Key while the reply runs: attaches on the other instance (SSE events, JSON 202), never a second exchange', async () => {
    const chatId = await newChat();
    const key = `k-${ulid()}`;
    const content = wordy(40);
    const first = post(a, chatId, content, { 'idempotency-key': key });
    const seen = await first.until(deltas(2));
    first.close();
    const messageId = startedId(seen);

    const json = await postKeyed(b, chatId, content, key);
    expect(json.status).toBe(202);
    expect(json.body.assistantMessage).toMatchObject({ id: messageId, status: 'generating' });
    expect(seen[0].data).toEqual(json.body.userMessage);

    const attached = await post(b, chatId, content, { 'idempotency-key': key }).ended;
    expect(attached.slice(0, 2).map((e) => e.event)).toEqual(['message.created', 'message.started']);
    expect(attached[0].data).toEqual(json.body.userMessage);
    expect(attached.at(-1)?.event).toBe('message.completed');
    const stored = await getMessage(b, chatId, messageId);
    expect(textOf(attached)).toBe(stored.content);
    const replay = await postKeyed(a, chatId, content, key).expect(201);
    expect(replay.body).toEqual({ userMessage: json.body.userMessage, assistantMessage: stored });
    expect((await messagesOf(chatId)).map((m) => m.id)).toEqual([json.body.userMessage.id, messageId]);
  });

  it('the eventsource package reconnecting to the resume URL: replays, stops at 204, never posts again', async () => {
    const chatId = await newChat();
    const first = post(a, chatId, wordy(20));
    const seen = await first.until(deltas(1));
    first.close();
    const messageId = startedId(seen);
    const requests: Array<string | null> = [];
    const received: Array<{ type: string; id: string; data: string }> = [];
    const source = new EventSource(`${b.url}/v1/chats/${chatId}/messages/${messageId}/events`, {
      fetch: (input, init) => {
        const headers = new Headers(init?.headers);
        requests.push(headers.get('last-event-id'));
        headers.set('authorization', `Bearer ${member.accessToken}`);
        return fetch(input, { ...init, headers });
      },
    });
    for (const type of ['message.started', 'delta', 'message.completed'])
      source.addEventListener(type, (e) => received.push({ type, id: e.lastEventId, data: e.data }));
    // The server ends the stream after the terminal event; the client reconnects with Last-Event-ID: end and
    // gets 204, which closes it for good.
    await waitFor(async () => requests.length >= 2 && source.readyState === EventSource.CLOSED, 15_000, 50);
    source.close();
    expect(requests).toEqual([null, 'end']);
    const stored = await getMessage(b, chatId, messageId);
    expect(received[0].type).toBe('message.started');
    expect(received.at(-1)).toMatchObject({ type: 'message.completed', id: 'end' });
    const text = received
      .filter((e) => e.type === 'delta')
      .map((e) => (JSON.parse(e.data) as { text: string }).text)
      .join('');
    expect(text).toBe(stored.content);
    const chat = await api(b).get(`/v1/chats/${chatId}`).auth(member.accessToken, { type: 'bearer' }).expect(200);
    expect(chat.body.messageCount).toBe(2);
  });

  it('followers on one instance share one poll: DynamoDB calls on B for 10 followers ≈ for 1 (reported with the writes per reply)', async () => {
    const callsOf = async (t: TestApp) => {
      const text = await t.app.get(MetricsService).render();
      return {
        reads: metricValue(text, 'dynamodb_request_duration_seconds_count', { operation: 'Query' }),
        writes:
          metricValue(text, 'dynamodb_request_duration_seconds_count', { operation: 'PutItem' }) +
          metricValue(text, 'dynamodb_request_duration_seconds_count', { operation: 'UpdateItem' }) +
          metricValue(text, 'dynamodb_request_duration_seconds_count', { operation: 'TransactWriteItems' }),
        wcu: metricValue(text, 'dynamodb_consumed_capacity_units_total', { tenant: acme.tenantId, kind: 'write' }),
      };
    };
    const follow = async (followers: number) => {
      const chatId = await newChat();
      const writesBefore = await callsOf(a);
      const first = post(a, chatId, wordy(40));
      const messageId = startedId(await first.until((events) => events.some((e) => e.event === 'message.started')));
      const before = await callsOf(b);
      const streams = Array.from({ length: followers }, () => resume(b, chatId, messageId));
      const ended = await Promise.all(streams.map((s) => s.ended));
      const after = await callsOf(b);
      await first.ended;
      const writesAfter = await callsOf(a);
      const stored = await getMessage(b, chatId, messageId);
      for (const events of ended) expect(textOf(events)).toBe(stored.content);
      return {
        queries: after.reads - before.reads,
        words: stored.content.split(' ').length,
        writes: writesAfter.writes - writesBefore.writes,
        wcu: writesAfter.wcu - writesBefore.wcu,
      };
    };
    const one = await follow(1);
    const ten = await follow(10);
    // Ten followers poll once per interval, as one does: not ten times the reads.
    expect(ten.queries).toBeLessThan(one.queries * 3 + 5);
    process.stdout.write(
      `resume metrics (flush ${env.GENERATION_FLUSH_MS} ms, poll ${env.STREAM_POLL_MS} ms, ${ECHO_DELAY_MS} ms/word): ` +
        `${JSON.stringify({ one, ten })}\n`,
    );
  });

  it('an instance that shuts down stops its replies and stores them as incomplete at once (not after their lease)', async () => {
    const leaving = await startApp({ ...env, SHUTDOWN_GRACE_MS: '1000' });
    const chatId = await newChat();
    const stream = post(leaving, chatId, wordy(300));
    const messageId = startedId(await stream.until(deltas(2)));
    await leaving.close();
    const stored = await getMessage(b, chatId, messageId);
    expect(stored.status).toBe('incomplete');
    expect(stored.content.length).toBeGreaterThan(0);
    const own = await stream.ended;
    expect(own.at(-1)?.event).toBe('message.cancelled');
    expect(textOf(own)).toBe(stored.content);
  });

  const describeBuilt = apiBuilt ? describe : describe.skip;
  describeBuilt('the generating process is SIGKILLed', () => {
    it('the reply ends incomplete within the lease (never stuck generating); a retry with the same key answers it', async () => {
      const dying = await startApi(
        apiEnv({
          ...env,
          DYNAMODB_ENDPOINT: process.env.DYNAMODB_ENDPOINT,
          LLM_ECHO_DELAY_MS: '50',
          GENERATION_LEASE_MS: '1000',
        }),
        { name: 'api-dying' },
      );
      const chatId = await newChat();
      const key = `kill-${ulid()}`;
      const content = wordy(100);
      const stream = openStream(dying.url, `/v1/chats/${chatId}/messages`, member.accessToken, {
        method: 'POST',
        body: { content },
        headers: { 'idempotency-key': key },
      });
      const seen = await stream.until(deltas(3));
      const messageId = startedId(seen);
      await dying.kill();

      const ended = await untilFinal(chatId, messageId);
      expect(ended.status).toBe('incomplete');
      expect(textOf(seen).startsWith(ended.content) || ended.content.startsWith(textOf(seen))).toBe(true);
      const retry = await postKeyed(b, chatId, content, key).expect(201);
      expect(retry.body.assistantMessage).toEqual(ended);
      // Every reply of the tenant so far (completed, cancelled, and this one ended by a reader) settled its
      // reservation: nothing is left set aside on the month's counter.
      const counter = await a.app.get(DynamoClients).doc.send(
        new GetCommand({
          TableName: acme.tableName,
          Key: Entities.usage.key(new Date().toISOString().slice(0, 7), 'TOTAL'),
          ConsistentRead: true,
        }),
      );
      expect(counter.Item).toMatchObject({ reserved: 0 });
      expect(counter.Item?.charged).toBe(Number(counter.Item?.inputTokens) + Number(counter.Item?.outputTokens));
      expect((await messagesOf(chatId)).map((m) => m.id)).toEqual([retry.body.userMessage.id, messageId]);
    }, 120_000);
  });
});
