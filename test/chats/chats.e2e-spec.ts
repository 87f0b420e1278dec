import { BatchWriteCommand, QueryCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { DynamoClients } from '@lib/dynamo';
import request from 'supertest';
import { ulid } from 'ulid';
import { CapacityRecorder } from '@app/usage/capacity-recorder';
import { startApp, type TestApp } from '../support/harness';
import { dynamoCallsForRequests, feedPolledOnce } from '../support/metrics';
import { parseSse } from '../support/processes';
import { createTenantWithAdmin, createUser, rolesByName, type TenantSession } from '../support/tenants';
import { loginOperator } from '../support/tokens';

/** A supertest parser that keeps an event stream's text. */
function collectText(response: request.Response, done: (error: Error | null, body: unknown) => void) {
  const stream = response as unknown as NodeJS.ReadableStream;
  let text = '';
  stream.on('data', (c: Buffer) => (text += c.toString()));
  stream.on('end', () => done(null, text));
}

describe('chats and messages (echo provider)', () => {
  let t: TestApp;
  let operator: string;
  let acme: TenantSession;
  let roles: Record<string, string>;
  let member: { id: string; accessToken: string };
  let other: { id: string; accessToken: string };
  let doc: DynamoClients['doc'];
  const api = () => request(t.url);
  const as = (token: string) => ({ auth: [token, { type: 'bearer' }] as const });

  beforeAll(async () => {
    t = await startApp({
      LOGIN_MAX_FAILURES_PER_IP: '10000',
      CHAT_MESSAGES_PER_MINUTE_PER_USER: '1000',
      CHAT_MESSAGES_PER_MINUTE_PER_TENANT: '10000',
      // Words one by one (a reply produced in one go would stream as a single delta).
      LLM_ECHO_DELAY_MS: '1',
    });
    operator = (await loginOperator(t.url)).accessToken;
    acme = await createTenantWithAdmin(t.url, operator);
    roles = await rolesByName(t.url, acme.accessToken);
    member = await createUser(t.url, acme.accessToken, acme.slug, [roles.member]);
    other = await createUser(t.url, acme.accessToken, acme.slug, [roles.member]);
    doc = t.app.get(DynamoClients).doc;
  });
  afterAll(() => t.close());

  async function newChat(token = member.accessToken, body: object = { title: 'Hello' }) {
    const res = await api()
      .post('/v1/chats')
      .auth(...as(token).auth)
      .send(body)
      .expect(201);
    // A create names the new chat and its first version.
    expect({ location: res.headers.location, etag: res.headers.etag }).toEqual({
      location: `/v1/chats/${res.body.id}`,
      etag: '"1"',
    });
    return res.body as { id: string; messageCount: number; title: string; model: string };
  }

  it('creates, lists (most recently updated first), reads, renames and deletes a chat', async () => {
    const a = await newChat(member.accessToken, { title: 'A', systemPrompt: 'Be brief.' });
    expect(a).toEqual({
      id: expect.any(String),
      title: 'A',
      systemPrompt: 'Be brief.',
      model: 'echo-1',
      createdAt: expect.any(String),
      updatedAt: expect.any(String),
      messageCount: 0,
    });
    const b = await newChat(member.accessToken, { title: 'B' });
    await api()
      .post(`/v1/chats/${a.id}/messages`)
      .auth(...as(member.accessToken).auth)
      .send({ content: 'bump' })
      .expect(201);
    const list = await api()
      .get('/v1/chats')
      .auth(...as(member.accessToken).auth)
      .expect(200);
    const ids = list.body.items.map((c: { id: string }) => c.id);
    expect(ids.indexOf(a.id)).toBeLessThan(ids.indexOf(b.id));
    const got = await api()
      .get(`/v1/chats/${b.id}`)
      .auth(...as(member.accessToken).auth)
      .expect(200);
    const renamed = await api()
      .patch(`/v1/chats/${b.id}`)
      .set('if-match', got.headers.etag)
      .auth(...as(member.accessToken).auth)
      .send({ title: 'B2' })
      .expect(200);
    expect(renamed.body.title).toBe('B2');
    expect(got.headers.etag).toMatch(/^"[1-9][0-9]*"$/);
    expect(renamed.headers.etag).toBe(`"${Number(JSON.parse(got.headers.etag)) + 1}"`);
    await api()
      .patch(`/v1/chats/${b.id}`)
      .set('if-match', got.headers.etag)
      .auth(...as(member.accessToken).auth)
      .send({ title: 'B3' })
      .expect(412);
    await api()
      .delete(`/v1/chats/${b.id}`)
      .auth(...as(member.accessToken).auth)
      .expect(204);
    await api()
      .get(`/v1/chats/${b.id}`)
      .auth(...as(member.accessToken).auth)
      .expect(404);
  });

  it('POST /messages stores both messages and returns them (JSON)', async () => {
    const chat = await newChat();
    const res = await api()
      .post(`/v1/chats/${chat.id}/messages`)
      .auth(...as(member.accessToken).auth)
      .send({ content: 'Hi there' })
      .expect(201);
    expect(res.body.userMessage).toMatchObject({
      chatId: chat.id,
      role: 'user',
      content: 'Hi there',
      status: 'complete',
    });
    expect(res.body.assistantMessage).toMatchObject({
      chatId: chat.id,
      role: 'assistant',
      status: 'complete',
      model: 'echo-1',
    });
    expect(res.body.assistantMessage.content).toContain('development provider');
    expect(res.body.assistantMessage.content).toContain('Hi there');
    expect(res.body.assistantMessage.usage.inputTokens).toBeGreaterThan(0);
    expect(res.body.assistantMessage.usage.outputTokens).toBeGreaterThan(0);
    const after = await api()
      .get(`/v1/chats/${chat.id}`)
      .auth(...as(member.accessToken).auth)
      .expect(200);
    expect(after.body.messageCount).toBe(2);
  });

  it('streams SSE: message.created, deltas, message.completed; the deltas add up to the stored reply', async () => {
    const chat = await newChat();
    const res = await api()
      .post(`/v1/chats/${chat.id}/messages`)
      .set('accept', 'text/event-stream')
      .auth(...as(member.accessToken).auth)
      .send({ content: 'stream me please' })
      .buffer(true)
      .parse(collectText)
      .expect(200);
    expect(res.headers['content-type']).toContain('text/event-stream');
    expect(res.headers['cache-control']).toBe('no-cache, no-transform');
    expect(res.headers['x-request-id']).toBeDefined();
    const events = parseSse(res.body as string);
    expect(events.map((e) => e.event).slice(0, 2)).toEqual(['message.created', 'message.started']);
    expect(events.at(-1)).toMatchObject({ event: 'message.completed', id: 'end' });
    const deltas = events.filter((e) => e.event === 'delta');
    expect(deltas.length).toBeGreaterThan(3);
    const completed = events.at(-1)?.data as { id: string; content: string; usage: object };
    expect(events[1].data).toMatchObject({ id: completed.id, role: 'assistant', status: 'generating', content: '' });
    // Every delta's id is the reply's length after it: a resume after any of them continues exactly there.
    let text = '';
    for (const delta of deltas) {
      text += (delta.data as { text: string }).text;
      expect(delta.id).toBe(String(text.length));
    }
    expect(text).toBe(completed.content);
    expect(completed.usage).toBeDefined();
    const page = await api()
      .get(`/v1/chats/${chat.id}/messages`)
      .auth(...as(member.accessToken).auth)
      .expect(200);
    expect(page.body.items.map((m: { content: string }) => m.content)).toEqual(['stream me please', completed.content]);
  });

  it('pages messages oldest first; each page is exactly one DynamoDB request', async () => {
    const chat = await newChat();
    for (let i = 0; i < 5; i++) {
      await api()
        .post(`/v1/chats/${chat.id}/messages`)
        .auth(...as(member.accessToken).auth)
        .send({ content: `m${i}` })
        .expect(201);
    }
    const calls = () => dynamoCallsForRequests(t);
    await api()
      .get(`/v1/chats/${chat.id}/messages?limit=1`)
      .auth(...as(member.accessToken).auth)
      .expect(200); // warm caches
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      // The capacity recorder writes what it has every 5 s: written now, it has nothing to write during the page.
      await t.app.get(CapacityRecorder).flush();
      await feedPolledOnce(t);
      const before = await calls();
      const res: request.Response = await api()
        .get(`/v1/chats/${chat.id}/messages`)
        .query(cursor ? { limit: 4, cursor } : { limit: 4 })
        .auth(...as(member.accessToken).auth)
        .expect(200);
      expect((await calls()) - before).toBe(1);
      seen.push(
        ...res.body.items.map((m: { content: string; role: string }) => (m.role === 'user' ? m.content : 'reply')),
      );
      cursor = res.body.nextCursor;
    } while (cursor);
    expect(seen).toEqual(['m0', 'reply', 'm1', 'reply', 'm2', 'reply', 'm3', 'reply', 'm4', 'reply']);
  });

  it('a cursor is bound to its chat and caller', async () => {
    const chat = await newChat();
    for (let i = 0; i < 2; i++)
      await api()
        .post(`/v1/chats/${chat.id}/messages`)
        .auth(...as(member.accessToken).auth)
        .send({ content: `x${i}` })
        .expect(201);
    const first = await api()
      .get(`/v1/chats/${chat.id}/messages?limit=1`)
      .auth(...as(member.accessToken).auth)
      .expect(200);
    const other2 = await newChat();
    await api()
      .get(`/v1/chats/${other2.id}/messages`)
      .query({ cursor: first.body.nextCursor })
      .auth(...as(member.accessToken).auth)
      .expect(400);
    await api()
      .get(`/v1/chats/${chat.id}/messages`)
      .query({ cursor: first.body.nextCursor })
      .auth(...as(other.accessToken).auth)
      .expect(400);
  });

  it('malformed ids and page parameters → 400 naming the field, before any DynamoDB request', async () => {
    const chat = await newChat();
    const calls = () => dynamoCallsForRequests(t);
    const fieldsOf = (res: request.Response) =>
      (res.body.errors as Array<{ field: string; message: string }>).map((e) => e.field);
    const page = (path: string, query: Record<string, string>) =>
      api()
        .get(path)
        .query(query)
        .auth(...as(member.accessToken).auth);
    await page(`/v1/chats/${chat.id}/messages`, {}).expect(200); // warm caches
    // A cache refresh started by the warm-up request may still be in flight: wait until the count holds still.
    let before = await calls();
    for (let i = 0; i < 40; i++) {
      await new Promise((r) => setTimeout(r, 50));
      const now = await calls();
      if (now === before) break;
      before = now;
    }
    const cases: Array<[string, Record<string, string>, string]> = [
      ['/v1/chats/not-a-ulid/messages', {}, 'chatId'],
      [`/v1/chats/${chat.id.toLowerCase()}/messages`, {}, 'chatId'],
      [`/v1/chats/${chat.id}0/messages`, {}, 'chatId'],
      [`/v1/chats/${chat.id}/messages`, { limit: '0' }, 'limit'],
      [`/v1/chats/${chat.id}/messages`, { limit: '101' }, 'limit'],
      [`/v1/chats/${chat.id}/messages`, { limit: '2.5' }, 'limit'],
      [`/v1/chats/${chat.id}/messages`, { limit: 'ten' }, 'limit'],
      [`/v1/chats/${chat.id}/messages`, { cursor: 'x'.repeat(2049) }, 'cursor'],
      [`/v1/chats/${chat.id}/messages`, { sort: 'desc' }, 'sort'],
      ['/v1/chats/not-a-ulid', {}, 'chatId'],
    ];
    for (const [path, query, field] of cases) {
      const res = await page(path, query).expect(400);
      expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
      expect(fieldsOf(res)).toContain(field);
    }
    expect((await calls()) - before).toBe(0);
    const fine = await page(`/v1/chats/${chat.id}/messages`, { limit: '100' }).expect(200);
    expect(fine.body.nextCursor).toBeNull();
  });

  it('bad content: empty → 400, over 32 000 → 413, control characters → 400, unknown fields → 400', async () => {
    const chat = await newChat();
    const post = (body: object) =>
      api()
        .post(`/v1/chats/${chat.id}/messages`)
        .auth(...as(member.accessToken).auth)
        .send(body);
    await post({ content: '' }).expect(400);
    await post({ content: 'x'.repeat(32_001) }).expect(413);
    await post({ content: 'bell\u0007' }).expect(400);
    await post({ content: 'ok', role: 'system' }).expect(400);
    await post({}).expect(400);
    await post({ content: 'tab\tand\nnewline' }).expect(201);
  });

  it("another user's chat → 404 on every route, nothing changed; a viewer cannot post; chats:read:any reads but cannot post", async () => {
    const chat = await newChat(member.accessToken);
    await api()
      .post(`/v1/chats/${chat.id}/messages`)
      .auth(...as(member.accessToken).auth)
      .send({ content: 'mine' })
      .expect(201);
    const o = other.accessToken;
    await api()
      .get(`/v1/chats/${chat.id}`)
      .auth(...as(o).auth)
      .expect(404);
    await api()
      .patch(`/v1/chats/${chat.id}`)
      .auth(...as(o).auth)
      .send({ title: 'stolen' })
      .expect(404);
    await api()
      .get(`/v1/chats/${chat.id}/messages`)
      .auth(...as(o).auth)
      .expect(404);
    await api()
      .post(`/v1/chats/${chat.id}/messages`)
      .auth(...as(o).auth)
      .send({ content: 'intrusion' })
      .expect(404);
    await api()
      .delete(`/v1/chats/${chat.id}`)
      .auth(...as(o).auth)
      .expect(404);
    const viewer = await createUser(t.url, acme.accessToken, acme.slug, [roles.viewer]);
    await api()
      .post('/v1/chats')
      .auth(...as(viewer.accessToken).auth)
      .send({})
      .expect(403);
    await api()
      .post(`/v1/chats/${chat.id}/messages`)
      .auth(...as(viewer.accessToken).auth)
      .send({ content: 'x' })
      .expect(403);
    // The owner-role admin holds chats:read:any: reads, cannot write.
    await api()
      .get(`/v1/chats/${chat.id}`)
      .auth(...as(acme.accessToken).auth)
      .expect(200);
    await api()
      .get(`/v1/chats/${chat.id}/messages`)
      .auth(...as(acme.accessToken).auth)
      .expect(200);
    await api()
      .post(`/v1/chats/${chat.id}/messages`)
      .auth(...as(acme.accessToken).auth)
      .send({ content: 'admin here' })
      .expect(404);
    const after = await api()
      .get(`/v1/chats/${chat.id}`)
      .auth(...as(member.accessToken).auth)
      .expect(200);
    expect(after.body).toMatchObject({ title: 'Hello', messageCount: 2 });
  });

  it("another tenant's chat ids → 404, nothing changed", async () => {
    const chat = await newChat(member.accessToken);
    const beta = await createTenantWithAdmin(t.url, operator);
    for (const [method, path] of [
      ['get', `/v1/chats/${chat.id}`],
      ['patch', `/v1/chats/${chat.id}`],
      ['delete', `/v1/chats/${chat.id}`],
      ['get', `/v1/chats/${chat.id}/messages`],
      ['post', `/v1/chats/${chat.id}/messages`],
    ] as const) {
      const res = await (
        api()
          [method](path)
          .auth(...as(beta.accessToken).auth) as request.Test
      ).send(method === 'post' ? { content: 'x' } : { title: 'x' });
      expect([method, path, res.status]).toEqual([method, path, 404]);
    }
    await api()
      .get(`/v1/chats/${chat.id}`)
      .auth(...as(member.accessToken).auth)
      .expect(200);
  });

  it('100 concurrent appends to one chat: every message stored once, messageCount exact', async () => {
    const chat = await newChat();
    const results = await Promise.all(
      Array.from({ length: 100 }, (_, i) =>
        api()
          .post(`/v1/chats/${chat.id}/messages`)
          .auth(...as(member.accessToken).auth)
          .send({ content: `c${i}` }),
      ),
    );
    expect(results.filter((r) => r.status === 201)).toHaveLength(100);
    const got = await api()
      .get(`/v1/chats/${chat.id}`)
      .auth(...as(member.accessToken).auth)
      .expect(200);
    expect(got.body.messageCount).toBe(200);
    const contents: string[] = [];
    let cursor: string | null = null;
    do {
      const res: request.Response = await api()
        .get(`/v1/chats/${chat.id}/messages`)
        .query(cursor ? { limit: 100, cursor } : { limit: 100 })
        .auth(...as(member.accessToken).auth)
        .expect(200);
      contents.push(
        ...res.body.items.filter((m: { role: string }) => m.role === 'user').map((m: { content: string }) => m.content),
      );
      cursor = res.body.nextCursor;
    } while (cursor);
    expect(contents.sort()).toEqual(Array.from({ length: 100 }, (_, i) => `c${i}`).sort());
  });

  it('the same Idempotency-Key 10 times concurrently → one user message and one assistant message', async () => {
    const chat = await newChat();
    const key = `k-${ulid()}`;
    const results = await Promise.all(
      Array.from({ length: 10 }, () =>
        api()
          .post(`/v1/chats/${chat.id}/messages`)
          .set('idempotency-key', key)
          .auth(...as(member.accessToken).auth)
          .send({ content: 'once' }),
      ),
    );
    const ok = results.filter((r) => r.status === 201);
    expect(ok.length).toBeGreaterThanOrEqual(1);
    // A retry that arrives while the first request stores its messages: 409; once they are stored, it attaches
    // to that exchange (202 while the reply generates, 201 once it is final).
    expect(results.every((r) => [201, 202, 409].includes(r.status))).toBe(true);
    for (const attached of results.filter((r) => r.status === 202))
      expect(attached.body.userMessage).toEqual(ok[0].body.userMessage);
    // Replays return the same body.
    const replay = await api()
      .post(`/v1/chats/${chat.id}/messages`)
      .set('idempotency-key', key)
      .auth(...as(member.accessToken).auth)
      .send({ content: 'once' })
      .expect(201);
    expect(replay.body).toEqual(ok[0].body);
    await api()
      .post(`/v1/chats/${chat.id}/messages`)
      .set('idempotency-key', key)
      .auth(...as(member.accessToken).auth)
      .send({ content: 'different' })
      .expect(422);
    const got = await api()
      .get(`/v1/chats/${chat.id}`)
      .auth(...as(member.accessToken).auth)
      .expect(200);
    expect(got.body.messageCount).toBe(2);
    // A streaming retry replays the exchange's events.
    const sse = await api()
      .post(`/v1/chats/${chat.id}/messages`)
      .set('idempotency-key', key)
      .set('accept', 'text/event-stream')
      .auth(...as(member.accessToken).auth)
      .send({ content: 'once' })
      .buffer(true)
      .parse(collectText)
      .expect(200);
    const events = parseSse(sse.body as string);
    expect(events.map((e) => e.event)).toEqual(['message.created', 'message.started', 'delta', 'message.completed']);
    expect(events[0].data).toEqual(ok[0].body.userMessage);
    expect(events[2].data).toEqual({ text: ok[0].body.assistantMessage.content });
    expect(events[3].data).toEqual(ok[0].body.assistantMessage);
    expect(
      (
        await api()
          .get(`/v1/chats/${chat.id}`)
          .auth(...as(member.accessToken).auth)
      ).body.messageCount,
    ).toBe(2);
  });

  it('POST /v1/chats honours Idempotency-Key too', async () => {
    const key = `c-${ulid()}`;
    const first = await api()
      .post('/v1/chats')
      .set('idempotency-key', key)
      .auth(...as(member.accessToken).auth)
      .send({ title: 'idem' })
      .expect(201);
    const again = await api()
      .post('/v1/chats')
      .set('idempotency-key', key)
      .auth(...as(member.accessToken).auth)
      .send({ title: 'idem' })
      .expect(201);
    expect(again.body.id).toBe(first.body.id);
    await api()
      .post('/v1/chats')
      .set('idempotency-key', key)
      .auth(...as(member.accessToken).auth)
      .send({ title: 'other' })
      .expect(422);
    await api()
      .post('/v1/chats')
      .set('idempotency-key', 'x'.repeat(129))
      .auth(...as(member.accessToken).auth)
      .send({})
      .expect(400);
  });

  it('usage counters and quotas: over the tenant quota → 429 before the provider is called', async () => {
    const tenant = await createTenantWithAdmin(t.url, operator);
    const chat = (
      await api()
        .post('/v1/chats')
        .auth(...as(tenant.accessToken).auth)
        .send({})
        .expect(201)
    ).body;
    await api()
      .post(`/v1/chats/${chat.id}/messages`)
      .auth(...as(tenant.accessToken).auth)
      .send({ content: 'count me' })
      .expect(201);
    const month = new Date().toISOString().slice(0, 7);
    await t.app.get(CapacityRecorder).flush();
    const usage = await api()
      .get('/v1/usage')
      .query({ month })
      .auth(...as(tenant.accessToken).auth)
      .expect(200);
    expect(usage.body.requests).toBe(1);
    // The DynamoDB capacity the tenant's requests consumed is recorded per month too.
    expect(usage.body.dynamodb.readCapacityUnits).toBeGreaterThan(0);
    expect(usage.body.dynamodb.writeCapacityUnits).toBeGreaterThan(0);
    expect(usage.body.inputTokens + usage.body.outputTokens).toBeGreaterThan(0);
    expect(usage.body.byUser).toHaveLength(1);
    const viaOperator = await api()
      .get(`/v1/tenants/${tenant.tenantId}/usage`)
      .query({ month })
      .auth(...as(operator).auth)
      .expect(200);
    expect(viaOperator.body.requests).toBe(1);
    await api()
      .patch(`/v1/tenants/${tenant.tenantId}`)
      .auth(...as(operator).auth)
      .send({ settings: { monthlyTokenQuota: 1 } })
      .expect(200);
    const refused = await api()
      .post(`/v1/chats/${chat.id}/messages`)
      .auth(...as(tenant.accessToken).auth)
      .send({ content: 'too much' })
      .expect(429);
    expect(refused.body.detail).toBe('quota exceeded');
    const got = await api()
      .get(`/v1/chats/${chat.id}`)
      .auth(...as(tenant.accessToken).auth)
      .expect(200);
    expect(got.body.messageCount).toBe(2);
    // A member cannot read usage.
    await api()
      .get('/v1/usage')
      .query({ month })
      .auth(...as(member.accessToken).auth)
      .expect(403);
  });

  it('retention: new items carry expiresAt; expired items are never returned', async () => {
    const tenant = await createTenantWithAdmin(t.url, operator);
    await api()
      .patch(`/v1/tenants/${tenant.tenantId}`)
      .auth(...as(operator).auth)
      .send({ settings: { retentionDays: 7 } })
      .expect(200);
    const chat = (
      await api()
        .post('/v1/chats')
        .auth(...as(tenant.accessToken).auth)
        .send({})
        .expect(201)
    ).body;
    await api()
      .post(`/v1/chats/${chat.id}/messages`)
      .auth(...as(tenant.accessToken).auth)
      .send({ content: 'keep a week' })
      .expect(201);
    const stored = await doc.send(
      new QueryCommand({
        TableName: tenant.tableName,
        KeyConditionExpression: 'pk = :p',
        ExpressionAttributeValues: { ':p': `CHAT#${chat.id}` },
      }),
    );
    const week = Math.floor(Date.now() / 1000) + 7 * 86400;
    for (const item of stored.Items ?? []) expect(Math.abs((item.expiresAt as number) - week)).toBeLessThan(60);
    const msg = (stored.Items ?? []).find((i) => String(i.sk).startsWith('MSG#'));
    await doc.send(
      new UpdateCommand({
        TableName: tenant.tableName,
        Key: { pk: msg?.pk, sk: msg?.sk },
        UpdateExpression: 'SET expiresAt = :past',
        ExpressionAttributeValues: { ':past': 1000 },
      }),
    );
    const page = await api()
      .get(`/v1/chats/${chat.id}/messages`)
      .auth(...as(tenant.accessToken).auth)
      .expect(200);
    expect(page.body.items).toHaveLength(1);
    await doc.send(
      new UpdateCommand({
        TableName: tenant.tableName,
        Key: { pk: `CHAT#${chat.id}`, sk: 'CHAT' },
        UpdateExpression: 'SET expiresAt = :past',
        ExpressionAttributeValues: { ':past': 1000 },
      }),
    );
    await api()
      .get(`/v1/chats/${chat.id}`)
      .auth(...as(tenant.accessToken).auth)
      .expect(404);
    const list = await api()
      .get('/v1/chats')
      .auth(...as(tenant.accessToken).auth)
      .expect(200);
    expect(list.body.items.map((c: { id: string }) => c.id)).not.toContain(chat.id);
  });

  it('deletes a chat with 5 000 messages completely', async () => {
    const chat = await newChat();
    const items = Array.from({ length: 5000 }, () => {
      const id = ulid();
      return {
        pk: `CHAT#${chat.id}`,
        sk: `MSG#${id}`,
        id,
        chatId: chat.id,
        role: 'user',
        content: 'bulk',
        status: 'complete',
        createdAt: new Date().toISOString(),
      };
    });
    for (let i = 0; i < items.length; i += 25) {
      let requests = items.slice(i, i + 25).map((Item) => ({ PutRequest: { Item } }));
      while (requests.length) {
        const r = await doc.send(new BatchWriteCommand({ RequestItems: { [acme.tableName]: requests } }));
        requests = (r.UnprocessedItems?.[acme.tableName] ?? []) as typeof requests;
      }
    }
    await api()
      .delete(`/v1/chats/${chat.id}`)
      .auth(...as(member.accessToken).auth)
      .expect(204);
    const left = await doc.send(
      new QueryCommand({
        TableName: acme.tableName,
        KeyConditionExpression: 'pk = :p',
        ExpressionAttributeValues: { ':p': `CHAT#${chat.id}` },
        Select: 'COUNT',
      }),
    );
    expect(left.Count).toBe(0);
  }, 180_000); // 5 000 writes then the deletes: ~10 s here, far more on a loaded machine
});
