/**
 * Faults the service must survive (docs TESTING.md): the built API as a child process against its own DynamoDB
 * Local child (files in a temp dir), which the tests pause, kill and restart; throttling and 5xx injected with
 * DYNAMODB_FAULTS; the API SIGKILLed between a write and its response; SIGTERM under load with open SSE streams.
 * Assertions are on outcomes (statuses, stored data); the only timings checked are "within timeout × attempts +
 * a margin" bounds.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { Agent } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import request from 'supertest';
import { DynamoDbLocal } from '../../libs/dynamo/src/local';
import { type FakeOpenAi, startFakeOpenAi } from '../support/fake-openai';
import { uniquePrefix } from '../support/harness';
import {
  apiBuilt,
  apiEnv,
  type ApiProcess,
  metricValue,
  parseSse,
  rawRequest,
  type RawResponse,
  type SseEvent,
  sleep,
  startApi,
  stopAllApis,
  waitFor,
} from '../support/processes';
import { createTenantWithAdmin, type TenantSession } from '../support/tenants';
import { loginOperator } from '../support/tokens';

const TIMEOUT_MS = 500;
const MAX_ATTEMPTS = 2;
/** timeout × attempts + backoff + a margin for a small shared machine. */
const FAIL_FAST_BOUND_MS = 4000;
const SHUTDOWN_GRACE_MS = 5000;
/** LLM_TIMEOUT_MS of the crashing and the retrying process: the idempotency lease is this + 30 s. */
const LLM_TIMEOUT_MS = 100;
const LEASE_MS = LLM_TIMEOUT_MS + 30_000;

if (!apiBuilt && process.env.CI) throw new Error('the API is not built: run npm run build first');
const describeBuilt = apiBuilt ? describe : describe.skip;

interface Message {
  id: string;
  role: string;
  content: string;
  status: string;
}

/** Names that must never reach a client (DynamoDB errors, SDK errors, table names). */
function expectNoInternals(res: { text: string }, prefix: string): void {
  expect(res.text).not.toMatch(/Dynamo|Throttling|InternalServerError|TimeoutError|ECONN|TransactionCanceled/);
  expect(res.text).not.toContain(prefix);
}

function expect503Problem(res: request.Response, prefix: string): void {
  expect(res.status).toBe(503);
  expect(res.headers['content-type']).toContain('application/problem+json');
  expect(Number(res.headers['retry-after'])).toBeGreaterThanOrEqual(1);
  expect(res.body).toMatchObject({ status: 503 });
  expectNoInternals(res, prefix);
}

describeBuilt('DynamoDB and process faults (built API + own DynamoDB Local, as child processes)', () => {
  const prefix = uniquePrefix();
  let dbDir: string;
  let ddb: DynamoDbLocal;
  let ddbPort: number;
  let api: ApiProcess;
  let operator: string;
  let tenant: TenantSession;
  const fakes: FakeOpenAi[] = [];

  const env = (overrides: Record<string, string> = {}) =>
    apiEnv({
      DYNAMODB_ENDPOINT: ddb.endpoint,
      DYNAMODB_TIMEOUT_MS: String(TIMEOUT_MS),
      DYNAMODB_MAX_ATTEMPTS: String(MAX_ATTEMPTS),
      TABLE_PREFIX: prefix,
      SHUTDOWN_GRACE_MS: String(SHUTDOWN_GRACE_MS),
      LLM_TIMEOUT_MS: String(LLM_TIMEOUT_MS),
      LOGIN_MAX_FAILURES_PER_IP: '10000',
      CHAT_MESSAGES_PER_MINUTE_PER_USER: '1000',
      CHAT_MESSAGES_PER_MINUTE_PER_TENANT: '100000',
      ...overrides,
    });
  const http = (target: ApiProcess = api) => request(target.url);
  const get = (path: string, token = tenant.accessToken, target = api) =>
    http(target).get(path).auth(token, { type: 'bearer' });
  const post = (path: string, body: object, token = tenant.accessToken, target = api) =>
    http(target).post(path).auth(token, { type: 'bearer' }).send(body);
  const timed = async <T>(fn: () => PromiseLike<T>): Promise<{ res: T; ms: number }> => {
    const started = Date.now();
    const res = await fn();
    return { res, ms: Date.now() - started };
  };
  const ready = (target = api) => rawRequest(target.url, { path: '/health/ready', timeoutMs: 10_000 });
  const metrics = async (target = api) => (await rawRequest(target.url, { path: '/metrics' })).text;
  const messagesOf = async (chatId: string, token = tenant.accessToken) =>
    (await get(`/v1/chats/${chatId}/messages?limit=100`, token).expect(200)).body.items as Message[];

  beforeAll(async () => {
    dbDir = mkdtempSync(join(tmpdir(), 'faults-ddb-'));
    ddb = await DynamoDbLocal.start({ dbPath: join(dbDir, 'db'), startTimeoutMs: 90_000 });
    ddbPort = ddb.port;
    api = await startApi(env(), { name: 'api' });
    operator = (await loginOperator(api.url)).accessToken;
    tenant = await createTenantWithAdmin(api.url, operator);
  }, 180_000);

  afterAll(async () => {
    await stopAllApis(5_000);
    await ddb?.stop();
    await Promise.all(fakes.map((f) => f.close()));
    if (dbDir) rmSync(dbDir, { recursive: true, force: true });
  }, 60_000);

  it('DynamoDB paused (SIGSTOP) longer than the timeout: 503 + Retry-After within the bound, readiness 503; recovers after SIGCONT without a restart', async () => {
    // Warm every cache the route uses (tenant, user, roles): what remains is the route's own Query.
    await get('/v1/users').expect(200);
    await get('/v1/users').expect(200);
    const pid = api.pid;

    ddb.pause();
    try {
      const list = await timed(() => get('/v1/users'));
      expect503Problem(list.res, prefix);
      expect(list.ms).toBeLessThan(FAIL_FAST_BOUND_MS);

      const create = await timed(() => post('/v1/chats', { title: 'while paused' }));
      expect503Problem(create.res, prefix);
      expect(create.ms).toBeLessThan(FAIL_FAST_BOUND_MS);

      const readiness = await timed(() => ready());
      expect(readiness.res.status).toBe(503);
      expect(readiness.ms).toBeLessThan(FAIL_FAST_BOUND_MS);

      // Still answering promptly while the database stays frozen (nothing piles up behind the hung calls).
      const again = await timed(() => get('/v1/users'));
      expect(again.res.status).toBe(503);
      expect(again.ms).toBeLessThan(FAIL_FAST_BOUND_MS);
      expect((await rawRequest(api.url, { path: '/health/live' })).status).toBe(200);
    } finally {
      ddb.resume();
    }

    await waitFor(async () => (await ready()).status === 200, 20_000);
    await get('/v1/users').expect(200);
    const chat = await post('/v1/chats', { title: 'after resume' }).expect(201);
    await get(`/v1/chats/${chat.body.id}`).expect(200);
    // Recovered in place: same process, never exited.
    expect(api.exit()).toBeUndefined();
    expect(api.pid).toBe(pid);
    // The write refused while paused did not happen later either.
    const titles = ((await get('/v1/chats?limit=100').expect(200)).body.items as Array<{ title: string }>).map(
      (c) => c.title,
    );
    expect(titles).not.toContain('while paused');
  }, 60_000);

  it('DynamoDB killed (SIGKILL) and restarted on the same port and files: fast 503s while down, full recovery, no data lost', async () => {
    // Data written before the crash.
    const user = await post('/v1/users', {
      email: `before-crash@${tenant.slug}.test`,
      name: 'Before',
      password: 'a-password-that-is-long',
      roleIds: [],
    }).expect(201);
    const chat = await post('/v1/chats', { title: 'before the crash' }).expect(201);
    await post(`/v1/chats/${chat.body.id}/messages`, { content: 'remember me' }).expect(201);

    console.log('DIAG before kill', (await get(`/v1/chats/${chat.body.id}`)).body, (await messagesOf(chat.body.id)).map((m) => [m.role, m.status]));
    ddb.process.kill('SIGKILL');
    await ddb.stop(); // resolves once the JVM is gone
    try {
      for (let i = 0; i < 3; i++) {
        const list = await timed(() => get('/v1/users'));
        expect503Problem(list.res, prefix);
        // Connection refused fails much faster than a hang: one quick retry, then 503.
        expect(list.ms).toBeLessThan(FAIL_FAST_BOUND_MS);
      }
      const readiness = await timed(() => ready());
      expect(readiness.res.status).toBe(503);
      expect(readiness.ms).toBeLessThan(FAIL_FAST_BOUND_MS);
      const refusedWrite = await post('/v1/users', {
        email: `while-down@${tenant.slug}.test`,
        name: 'While down',
        password: 'a-password-that-is-long',
        roleIds: [],
      });
      expect503Problem(refusedWrite, prefix);
    } finally {
      ddb = await DynamoDbLocal.start({ dbPath: join(dbDir, 'db'), port: ddbPort, startTimeoutMs: 90_000 });
    }
    expect(ddb.port).toBe(ddbPort);

    await waitFor(async () => (await ready()).status === 200, 30_000);
    expect(api.exit()).toBeUndefined();
    // Everything written before the crash is still there.
    await get(`/v1/users/${user.body.id}`).expect(200);
    const emails = ((await get('/v1/users?limit=100').expect(200)).body.items as Array<{ email: string }>).map(
      (u) => u.email,
    );
    expect(emails).toContain(`before-crash@${tenant.slug}.test`);
    expect(emails).not.toContain(`while-down@${tenant.slug}.test`);
    console.log('DIAG after', (await get(`/v1/chats/${chat.body.id}`)).body, (await messagesOf(chat.body.id)).map((m) => [m.role, m.status]));
    expect((await get(`/v1/chats/${chat.body.id}`).expect(200)).body.messageCount).toBe(2);
    const stored = await messagesOf(chat.body.id);
    expect(stored.map((m) => m.role)).toEqual(['user', 'assistant']);
    expect(stored[0].content).toBe('remember me');
    // The write refused while down left nothing half-made: the same create now succeeds.
    await post('/v1/users', {
      email: `while-down@${tenant.slug}.test`,
      name: 'While down',
      password: 'a-password-that-is-long',
      roleIds: [],
    }).expect(201);
    // Sign-in works (sessions are written again).
    await http()
      .post('/v1/auth/login')
      .send({ tenant: tenant.slug, email: tenant.adminEmail, password: tenant.adminPassword })
      .expect(200);
  }, 150_000);

  describe('throttling and 5xx injected below the SDK retries (DYNAMODB_FAULTS)', () => {
    let faulty: ApiProcess;

    beforeAll(async () => {
      faulty = await startApi(env({ DYNAMODB_FAULTS: 'Query=ThrottlingException,PutItem=InternalServerError' }), {
        name: 'api-faults',
      });
    }, 120_000);
    afterAll(async () => {
      await faulty?.stop(5_000);
    });

    it('ThrottlingException on Query: retried (dynamodb_retries_total), then 503 with Retry-After; other operations unaffected', async () => {
      // Readiness uses DescribeTable, which is not throttled.
      expect((await ready(faulty)).status).toBe(200);
      const before = await metrics(faulty);
      const tenants = await timed(() => get('/v1/tenants', operator, faulty));
      expect503Problem(tenants.res, prefix);
      expect(tenants.ms).toBeLessThan(FAIL_FAST_BOUND_MS + 2000); // throttling backs off longer than 5xx
      const users = await get('/v1/users', tenant.accessToken, faulty);
      expect503Problem(users, prefix);
      const after = await metrics(faulty);

      const labels = { operation: 'Query' };
      const errors =
        metricValue(after, 'dynamodb_errors_total', { ...labels, code: 'ThrottlingException' }) -
        metricValue(before, 'dynamodb_errors_total', { ...labels, code: 'ThrottlingException' });
      const retries =
        metricValue(after, 'dynamodb_retries_total', labels) - metricValue(before, 'dynamodb_retries_total', labels);
      expect(errors).toBeGreaterThanOrEqual(2);
      // Every failed call was attempted MAX_ATTEMPTS times.
      expect(retries).toBe(errors * (MAX_ATTEMPTS - 1));
      // The same requests on the healthy process succeed: the fault is the injected one.
      await get('/v1/tenants', operator).expect(200);
      await get('/v1/users').expect(200);
    }, 60_000);

    it('InternalServerError on PutItem: retried, then 503 with Retry-After', async () => {
      const before = await metrics(faulty);
      const login = await timed(() =>
        http(faulty)
          .post('/v1/platform/auth/login')
          .send({ email: 'root@operators.test', password: 'correct horse battery staple' }),
      );
      expect503Problem(login.res, prefix);
      expect(login.ms).toBeLessThan(FAIL_FAST_BOUND_MS);
      const after = await metrics(faulty);
      const labels = { operation: 'PutItem' };
      const errors =
        metricValue(after, 'dynamodb_errors_total', { ...labels, code: 'InternalServerError' }) -
        metricValue(before, 'dynamodb_errors_total', { ...labels, code: 'InternalServerError' });
      const retries =
        metricValue(after, 'dynamodb_retries_total', labels) - metricValue(before, 'dynamodb_retries_total', labels);
      expect(errors).toBe(1);
      expect(retries).toBe(MAX_ATTEMPTS - 1);
    }, 60_000);

    it('conditional-check and transaction-cancel failures are not retried (duplicate email → 409, idempotent replay)', async () => {
      const body = { email: `dup@${tenant.slug}.test`, name: 'Dup', password: 'a-password-that-is-long', roleIds: [] };
      await post('/v1/users', body).expect(201);
      const chatKey = `chat-${Date.now()}`;
      await http()
        .post('/v1/chats')
        .auth(tenant.accessToken, { type: 'bearer' })
        .set('idempotency-key', chatKey)
        .send({})
        .expect(201);

      const before = await metrics();
      const dup = await post('/v1/users', body).expect(409);
      expectNoInternals(dup, prefix);
      // Same key, same body: replayed; the claim's conditional Put fails once and is not retried.
      await http()
        .post('/v1/chats')
        .auth(tenant.accessToken, { type: 'bearer' })
        .set('idempotency-key', chatKey)
        .send({})
        .expect(201);
      const after = await metrics();

      const delta = (name: string, labels: Record<string, string>) =>
        metricValue(after, name, labels) - metricValue(before, name, labels);
      expect(
        delta('dynamodb_errors_total', { operation: 'TransactWriteItems', code: 'TransactionCanceledException' }),
      ).toBe(1);
      expect(delta('dynamodb_retries_total', { operation: 'TransactWriteItems' })).toBe(0);
      expect(delta('dynamodb_errors_total', { operation: 'PutItem', code: 'ConditionalCheckFailedException' })).toBe(1);
      expect(delta('dynamodb_retries_total', { operation: 'PutItem' })).toBe(0);
    }, 60_000);
  });

  it('API SIGKILLed right after storing the user message: the client sees a reset; its retry with the same Idempotency-Key on a fresh process writes nothing twice', async () => {
    const chat = await post('/v1/chats', { title: 'crash' }).expect(201);
    const crashing = await startApi(env({ TEST_CRASH_POINT: 'after-user-message' }), { name: 'api-crash' });
    const key = `crash-${Date.now()}`;
    const content = 'written, then the process died';
    const claimedAt = Date.now();
    const attempt = await rawRequest(crashing.url, {
      method: 'POST',
      path: `/v1/chats/${chat.body.id}/messages`,
      token: tenant.accessToken,
      headers: { 'idempotency-key': key },
      body: { content },
      timeoutMs: 30_000,
    }).then(
      (res: RawResponse) => ({ res, error: undefined }),
      (error: NodeJS.ErrnoException) => ({ res: undefined, error }),
    );
    expect(attempt.res).toBeUndefined();
    expect(attempt.error?.code).toBe('ECONNRESET');
    expect((await crashing.exited).signal).toBe('SIGKILL');

    // The user message was stored before the crash; nothing else.
    const afterCrash = await messagesOf(chat.body.id);
    expect(afterCrash.map((m) => [m.role, m.content])).toEqual([['user', content]]);

    // A prompt retry meets the dead run's lease: 409 "in progress" (documented), nothing written.
    const early = await http()
      .post(`/v1/chats/${chat.body.id}/messages`)
      .auth(tenant.accessToken, { type: 'bearer' })
      .set('idempotency-key', key)
      .send({ content });
    expect(early.status).toBe(409);
    expect(early.headers['content-type']).toContain('application/problem+json');
    expect(await messagesOf(chat.body.id)).toHaveLength(1);

    // Once the lease (LLM_TIMEOUT_MS + 30 s, from the dead process's claim) runs out, the retry resumes.
    await sleep(Math.max(0, claimedAt + LEASE_MS + 500 - Date.now()));
    const retry = await waitFor(
      async () => {
        const res = await http()
          .post(`/v1/chats/${chat.body.id}/messages`)
          .auth(tenant.accessToken, { type: 'bearer' })
          .set('idempotency-key', key)
          .send({ content });
        return res.status === 409 ? undefined : res;
      },
      10_000,
      500,
    );
    expect(retry.status).toBe(201);
    expect(retry.body.userMessage).toMatchObject({ id: afterCrash[0].id, content, role: 'user' });
    expect(retry.body.assistantMessage).toMatchObject({ role: 'assistant', status: 'complete' });

    const stored = await messagesOf(chat.body.id);
    expect(stored.map((m) => m.role)).toEqual(['user', 'assistant']);
    expect(stored[0].id).toBe(afterCrash[0].id);
    expect(stored[1].id).toBe(retry.body.assistantMessage.id);
    expect((await get(`/v1/chats/${chat.body.id}`).expect(200)).body.messageCount).toBe(2);
    // One more retry replays the stored response.
    const replay = await http()
      .post(`/v1/chats/${chat.body.id}/messages`)
      .auth(tenant.accessToken, { type: 'bearer' })
      .set('idempotency-key', key)
      .send({ content })
      .expect(201);
    expect(replay.body).toEqual(retry.body);
    expect(await messagesOf(chat.body.id)).toHaveLength(2);
  }, 90_000);

  it('SIGTERM under load with open SSE streams: readiness 503 at once, requests and streams in flight finish, no resets, exit 0', async () => {
    const CHUNKS = ['one ', 'two ', 'three ', 'four ', 'five ', 'six ', 'seven ', 'eight'];
    const fake = await startFakeOpenAi({ chunks: CHUNKS, chunkDelayMs: 300 });
    fakes.push(fake);
    const slow = await createTenantWithAdmin(api.url, operator);
    await http()
      .patch(`/v1/tenants/${slow.tenantId}`)
      .auth(operator, { type: 'bearer' })
      .send({ settings: { llm: { provider: 'openai', baseUrl: fake.url, model: 'm', apiKey: 'k' } } })
      .expect(200);
    // Its own process: this one is going to exit. Default LLM timeout (the streams take ~3 s).
    const draining = await startApi(env({ LLM_TIMEOUT_MS: '60000' }), { name: 'api-drain' });
    try {
      const token = slow.accessToken;
      const chats: string[] = [];
      for (let i = 0; i < 4; i++)
        chats.push((await post('/v1/chats', { title: `s${i}` }, token, draining).expect(201)).body.id);
      const plainChat = chats[0];
      await get(`/v1/chats/${plainChat}`, token, draining).expect(200);

      // Open the SSE streams and wait until each has stored its user message (they are in flight).
      const streams = chats.map((chatId, i) => {
        const events: SseEvent[] = [];
        let buffer = '';
        let started!: () => void;
        const open = new Promise<void>((r) => (started = r));
        const done = rawRequest(draining.url, {
          method: 'POST',
          path: `/v1/chats/${chatId}/messages`,
          token,
          headers: { accept: 'text/event-stream' },
          body: { content: `stream ${i}` },
          onData: (chunk) => {
            buffer += chunk;
            const cut = buffer.lastIndexOf('\n\n');
            if (cut < 0) return;
            events.push(...parseSse(buffer.slice(0, cut)));
            buffer = buffer.slice(cut + 2);
            if (events.some((e) => e.event === 'delta')) started();
          },
        });
        void done.catch(() => started());
        return { chatId, events, open, done };
      });
      await Promise.all(streams.map((s) => s.open));

      // Plain requests, four at a time, on keep-alive connections, until the server stops accepting.
      const agent = new Agent({ keepAlive: true, maxSockets: 4 });
      let sigtermAt = 0;
      const outcomes: Array<{ sentAt: number; status?: number; connection?: string; error?: string }> = [];
      let stopLoad = false;
      const loop = async () => {
        while (!stopLoad) {
          const sentAt = Date.now();
          try {
            const res = await rawRequest(draining.url, {
              path: `/v1/chats/${plainChat}`,
              token,
              agent,
              timeoutMs: 20_000,
            });
            outcomes.push({ sentAt, status: res.status, connection: res.headers.connection });
          } catch (error) {
            const code = (error as NodeJS.ErrnoException).code ?? (error as Error).message;
            outcomes.push({ sentAt, error: code, failedAt: Date.now() } as never);
            if (code === 'ECONNREFUSED') return;
          }
        }
      };
      const load = Promise.all([loop(), loop(), loop(), loop()]);
      await sleep(300);

      sigtermAt = Date.now();
      draining.child.kill('SIGTERM');
      // Readiness turns 503 at once, while the server still accepts connections (the drain).
      const readiness = await waitFor(
        async () => {
          const res = await ready(draining);
          return res.status === 503 ? res : undefined;
        },
        2_000,
        20,
      );
      expect(readiness.body).toMatchObject({ status: 'unavailable' });

      const exit = await draining.exited;
      const exitedAfterMs = Date.now() - sigtermAt;
      stopLoad = true;
      await load;
      agent.destroy();
      const results = await Promise.allSettled(streams.map((s) => s.done));

      // The process drained and exited cleanly, within the grace period (+ margin).
      expect(exit).toEqual({ code: 0, signal: null });
      expect(exitedAfterMs).toBeLessThan(SHUTDOWN_GRACE_MS + 3000);

      // Every stream finished: 200, user message, the model's deltas, then message.completed.
      for (const [i, result] of results.entries()) {
        expect(result.status).toBe('fulfilled');
        const res = (result as PromiseFulfilledResult<RawResponse>).value;
        expect(res.status).toBe(200);
        const events = parseSse(res.text);
        expect(events[0].event).toBe('message.created');
        expect(
          events
            .filter((e) => e.event === 'delta')
            .map((e) => (e.data as { text: string }).text)
            .join(''),
        ).toBe(CHUNKS.join(''));
        expect(events.at(-1)?.event).toBe('message.completed');
        expect(events.at(-1)?.data).toMatchObject({ role: 'assistant', status: 'complete', content: CHUNKS.join('') });
        expect(events.map((e) => e.event)).not.toContain('error');
        void i;
      }

      // Plain requests: all answered (200 while serving; 503 only for requests that met the closing server),
      // none reset; once the listener closed, new connections were refused (never reset).
      const answered = outcomes.filter((o) => o.status !== undefined);
      const failed = outcomes.filter((o) => o.error !== undefined);
      expect(answered.filter((o) => o.sentAt < sigtermAt).length).toBeGreaterThan(0);
      expect(answered.filter((o) => o.sentAt < sigtermAt).every((o) => o.status === 200)).toBe(true);
      expect(answered.filter((o) => o.sentAt >= sigtermAt && o.status === 200).length).toBeGreaterThan(0);
      expect(answered.every((o) => o.status === 200 || o.status === 503)).toBe(true);
      expect(answered.filter((o) => o.sentAt >= sigtermAt + 100).every((o) => o.connection === 'close')).toBe(true);
      console.log('DIAG outcomes', JSON.stringify(outcomes.filter((o) => o.sentAt > sigtermAt - 50).map((o) => ({ ...o, sentAt: o.sentAt - sigtermAt, failedAt: (o as { failedAt?: number }).failedAt ? (o as unknown as { failedAt: number }).failedAt - sigtermAt : undefined }))));
      expect(failed.map((o) => o.error)).toEqual(failed.map(() => 'ECONNREFUSED'));

      // What the streams stored survived the shutdown: each chat has its user and complete assistant message.
      for (const s of streams) {
        const stored = await messagesOf(s.chatId, token);
        expect(stored.map((m) => [m.role, m.status])).toEqual([
          ['user', 'complete'],
          ['assistant', 'complete'],
        ]);
      }
    } finally {
      await draining.kill();
    }
  }, 90_000);
});
