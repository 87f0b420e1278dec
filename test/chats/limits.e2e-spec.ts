import request from 'supertest';
import { startApp, type TestApp } from '../support/harness';
import { createTenantWithAdmin, createUser, rolesByName, type TenantSession } from '../support/tenants';
import { loginOperator } from '../support/tokens';

/** Per-user message rate limit (3 a minute in this app) and per-user monthly token quota. */
describe('chat limits: messages per minute per user, user monthly token quota', () => {
  let t: TestApp;
  let operator: string;
  const api = () => request(t.url);

  beforeAll(async () => {
    t = await startApp({
      LOGIN_MAX_FAILURES_PER_IP: '10000',
      CHAT_MESSAGES_PER_MINUTE_PER_USER: '3',
      CHAT_MESSAGES_PER_MINUTE_PER_TENANT: '10000',
    });
    operator = (await loginOperator(t.url)).accessToken;
  });
  afterAll(() => t.close());

  async function members(tenant: TenantSession, count: number) {
    const roles = await rolesByName(t.url, tenant.accessToken);
    const users = [];
    for (let i = 0; i < count; i++)
      users.push(await createUser(t.url, tenant.accessToken, tenant.slug, [roles.member]));
    return users;
  }

  const newChat = async (token: string) =>
    (await api().post('/v1/chats').auth(token, { type: 'bearer' }).send({}).expect(201)).body as { id: string };
  const post = (token: string, chatId: string, content: string) =>
    api().post(`/v1/chats/${chatId}/messages`).auth(token, { type: 'bearer' }).send({ content });
  const contents = async (token: string, chatId: string) =>
    (
      (
        await api()
          .get(`/v1/chats/${chatId}/messages`)
          .query({ limit: 100 })
          .auth(token, { type: 'bearer' })
          .expect(200)
      ).body.items as Array<{ role: string; content: string }>
    ).map((m) => `${m.role}:${m.role === 'user' ? m.content : '…'}`);
  const messageCount = async (token: string, chatId: string) =>
    (await api().get(`/v1/chats/${chatId}`).auth(token, { type: 'bearer' }).expect(200)).body.messageCount as number;

  it('the 4th message within a minute → 429 with Retry-After, nothing stored; another user is not affected', async () => {
    const tenant = await createTenantWithAdmin(t.url, operator);
    const [alice, bob] = await members(tenant, 2);
    const chat = await newChat(alice.accessToken);
    for (let i = 1; i <= 3; i++) await post(alice.accessToken, chat.id, `m${i}`).expect(201);

    const refused = await post(alice.accessToken, chat.id, 'm4').expect(429);
    expect(refused.headers['content-type']).toContain('application/problem+json');
    expect(refused.body).toMatchObject({ status: 429 });
    const retryAfter = Number(refused.headers['retry-after']);
    expect(Number.isInteger(retryAfter)).toBe(true);
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeLessThanOrEqual(60);

    // The SSE variant is refused the same way, before any stream opens.
    const sse = await api()
      .post(`/v1/chats/${chat.id}/messages`)
      .set('accept', 'text/event-stream')
      .auth(alice.accessToken, { type: 'bearer' })
      .send({ content: 'm5' })
      .expect(429);
    expect(sse.headers['content-type']).toContain('application/problem+json');
    expect(sse.headers['retry-after']).toBeDefined();

    expect(await contents(alice.accessToken, chat.id)).toEqual([
      'user:m1',
      'assistant:…',
      'user:m2',
      'assistant:…',
      'user:m3',
      'assistant:…',
    ]);
    expect(await messageCount(alice.accessToken, chat.id)).toBe(6);

    // Bob, same tenant, has his own budget of 3.
    const bobChat = await newChat(bob.accessToken);
    for (let i = 1; i <= 3; i++) await post(bob.accessToken, bobChat.id, `b${i}`).expect(201);
    await post(bob.accessToken, bobChat.id, 'b4').expect(429);
    expect(await messageCount(bob.accessToken, bobChat.id)).toBe(6);

    // The chat is checked together with the limits and its answer wins: Alice, past her limit, posting into
    // Bob's chat gets the 404 of a chat that is not hers, not a 429; nothing moves.
    await post(alice.accessToken, bobChat.id, 'not yours').expect(404);
    expect(await messageCount(bob.accessToken, bobChat.id)).toBe(6);
  });

  it('a user of another tenant is not affected either', async () => {
    const a = await createTenantWithAdmin(t.url, operator);
    const b = await createTenantWithAdmin(t.url, operator);
    const [ua] = await members(a, 1);
    const [ub] = await members(b, 1);
    const ca = await newChat(ua.accessToken);
    const cb = await newChat(ub.accessToken);
    for (let i = 0; i < 3; i++) await post(ua.accessToken, ca.id, `a${i}`).expect(201);
    await post(ua.accessToken, ca.id, 'a3').expect(429);
    await post(ub.accessToken, cb.id, 'b0').expect(201);
  });

  it('userMonthlyTokenQuota: a user who used the quota → 429 quota exceeded; other users keep working', async () => {
    const tenant = await createTenantWithAdmin(t.url, operator);
    const [carol, dave] = await members(tenant, 2);
    const carolChat = await newChat(carol.accessToken);
    const first = await post(carol.accessToken, carolChat.id, 'spend some tokens').expect(201);
    const spent = first.body.assistantMessage.usage.inputTokens + first.body.assistantMessage.usage.outputTokens;
    expect(spent).toBeGreaterThan(1);

    const patched = await api()
      .patch(`/v1/tenants/${tenant.tenantId}`)
      .auth(operator, { type: 'bearer' })
      .send({ settings: { userMonthlyTokenQuota: 1 } })
      .expect(200);
    expect(patched.body.settings).toMatchObject({ userMonthlyTokenQuota: 1, monthlyTokenQuota: null });

    const refused = await post(carol.accessToken, carolChat.id, 'one more').expect(429);
    expect(refused.body).toMatchObject({ status: 429, detail: 'quota exceeded' });
    expect(await messageCount(carol.accessToken, carolChat.id)).toBe(2);
    expect(await contents(carol.accessToken, carolChat.id)).toEqual(['user:spend some tokens', 'assistant:…']);

    // Dave has used nothing this month: the tenant (no tenant-wide quota) still serves him, once.
    const daveChat = await newChat(dave.accessToken);
    await post(dave.accessToken, daveChat.id, 'my first').expect(201);
    // Now Dave has used more than 1 token too.
    const daveRefused = await post(dave.accessToken, daveChat.id, 'my second').expect(429);
    expect(daveRefused.body.detail).toBe('quota exceeded');
    expect(await messageCount(dave.accessToken, daveChat.id)).toBe(2);

    // The tenant's usage counts both users; the refused requests added nothing.
    const month = new Date().toISOString().slice(0, 7);
    const usage = await api()
      .get('/v1/usage')
      .query({ month })
      .auth(tenant.accessToken, { type: 'bearer' })
      .expect(200);
    expect(usage.body.requests).toBe(2);
    expect(usage.body.byUser).toHaveLength(2);

    // Lifting the per-user quota (null) lets Carol post again.
    await api()
      .patch(`/v1/tenants/${tenant.tenantId}`)
      .auth(operator, { type: 'bearer' })
      .send({ settings: { userMonthlyTokenQuota: null } })
      .expect(200);
    await post(carol.accessToken, carolChat.id, 'back again').expect(201);
  });

  it('a user quota larger than what a user spent does not block; the tenant-wide quota still applies to everyone', async () => {
    const tenant = await createTenantWithAdmin(t.url, operator);
    const [erin, frank] = await members(tenant, 2);
    const erinChat = await newChat(erin.accessToken);
    const first = await post(erin.accessToken, erinChat.id, 'hello').expect(201);
    const spent = first.body.assistantMessage.usage.inputTokens + first.body.assistantMessage.usage.outputTokens;

    // User quota above Erin's spend, tenant quota at exactly what the tenant spent.
    await api()
      .patch(`/v1/tenants/${tenant.tenantId}`)
      .auth(operator, { type: 'bearer' })
      .send({ settings: { userMonthlyTokenQuota: spent + 1_000, monthlyTokenQuota: spent } })
      .expect(200);
    const frankChat = await newChat(frank.accessToken);
    const refused = await post(frank.accessToken, frankChat.id, 'hi').expect(429);
    expect(refused.body.detail).toBe('quota exceeded');
    expect(await messageCount(frank.accessToken, frankChat.id)).toBe(0);

    await api()
      .patch(`/v1/tenants/${tenant.tenantId}`)
      .auth(operator, { type: 'bearer' })
      .send({ settings: { monthlyTokenQuota: null } })
      .expect(200);
    await post(frank.accessToken, frankChat.id, 'hi').expect(201);
    await post(erin.accessToken, erinChat.id, 'again').expect(201);
  });
});
