import { randomBytes } from 'node:crypto';
import request from 'supertest';
import { startFakeOpenAi, type FakeOpenAi } from '../support/fake-openai';
import { startApp, type TestApp } from '../support/harness';
import { createTenantWithAdmin, createUser, rolesByName, type TenantSession } from '../support/tenants';
import { loginOperator } from '../support/tokens';

interface Exchange {
  userMessage: { id: string; content: string };
  assistantMessage: { content: string; usage: { inputTokens: number; outputTokens: number } };
}

const month = () => new Date().toISOString().slice(0, 7);

/**
 * Adversarial review, issue 11: one member's messages must not freeze the API for every tenant (token counting
 * on pathological text), and concurrent messages must not run a tenant or a user far past a monthly token quota.
 */
describe('chat message path hardening: token counting stalls, quota under concurrency', () => {
  let t: TestApp;
  let operator: string;
  const fakes: FakeOpenAi[] = [];
  const api = () => request(t.url);

  beforeAll(async () => {
    t = await startApp({
      LOGIN_MAX_FAILURES_PER_IP: '10000',
      CHAT_MESSAGES_PER_MINUTE_PER_USER: '10000',
      CHAT_MESSAGES_PER_MINUTE_PER_TENANT: '100000',
    });
    operator = (await loginOperator(t.url)).accessToken;
  });
  afterAll(async () => {
    await Promise.all(fakes.map((f) => f.close()));
    await t.close();
  });

  const newChat = async (token: string) =>
    (await api().post('/v1/chats').auth(token, { type: 'bearer' }).send({}).expect(201)).body as { id: string };
  const post = (token: string, chatId: string, content: string) =>
    api().post(`/v1/chats/${chatId}/messages`).auth(token, { type: 'bearer' }).send({ content });
  const usage = async (tenant: TenantSession) =>
    (await api().get('/v1/usage').query({ month: month() }).auth(tenant.accessToken, { type: 'bearer' }).expect(200))
      .body as {
      inputTokens: number;
      outputTokens: number;
      requests: number;
      byUser: Array<{ userId: string; inputTokens: number; outputTokens: number; requests: number }>;
    };
  const setSettings = (tenant: TenantSession, settings: Record<string, unknown>) =>
    api().patch(`/v1/tenants/${tenant.tenantId}`).auth(operator, { type: 'bearer' }).send({ settings }).expect(200);
  const member = async (tenant: TenantSession) => {
    const roles = await rolesByName(t.url, tenant.accessToken);
    return createUser(t.url, tenant.accessToken, tenant.slug, [roles.member]);
  };

  /**
   * Probes `/health/live` back to back until `work` settles; returns the longest time between two consecutive
   * answers. The app runs in this process, so a blocked event loop delays every answer, the probe's included.
   */
  async function longestLivenessGap<T>(work: Promise<T>): Promise<{ result: T; maxGapMs: number }> {
    let done = false;
    let maxGapMs = 0;
    let probes = 0;
    const settled = work.finally(() => (done = true));
    const probe = (async () => {
      let last = performance.now();
      while (!done) {
        await api().get('/health/live').expect(200);
        const now = performance.now();
        maxGapMs = Math.max(maxGapMs, now - last);
        last = now;
        probes++;
      }
    })();
    const result = await settled;
    await probe;
    expect(probes).toBeGreaterThan(0);
    return { result, maxGapMs };
  }

  it('worst-case messages (32 000 × "c", 16 000 × "中", twice in the same chats) stall /health/live no more than a pasted blob of the same size', async () => {
    const tenant = await createTenantWithAdmin(t.url, operator);
    const alice = await member(tenant);
    const [cChat, hanChat] = [await newChat(alice.accessToken), await newChat(alice.accessToken)];
    const [proseChat, otherProseChat] = [await newChat(alice.accessToken), await newChat(alice.accessToken)];
    const worst = { c: 'c'.repeat(32_000), han: '中'.repeat(16_000) };
    // Ordinary heavy input of the same size: a pasted blob (base64 of random bytes), linear to count even before.
    const prose = (_seed: number) => randomBytes(24_000).toString('base64');
    // A first message in each chat, so the next ones carry a history of the same kind (the user message and the
    // echo of it) into their prompt.
    await post(alice.accessToken, cChat.id, worst.c).expect(201);
    await post(alice.accessToken, hanChat.id, worst.han).expect(201);
    await post(alice.accessToken, proseChat.id, prose(1)).expect(201);
    await post(alice.accessToken, otherProseChat.id, prose(2)).expect(201);

    // The same load side by side: a pasted blob first, then the worst inputs. Machine noise moves both; the
    // quadratic counting this replaces stalled the event loop for seconds on the worst inputs only.
    const ordinary = await longestLivenessGap(
      Promise.all([
        post(alice.accessToken, proseChat.id, prose(3)),
        post(alice.accessToken, otherProseChat.id, prose(4)),
        post(alice.accessToken, proseChat.id, prose(5)),
        post(alice.accessToken, otherProseChat.id, prose(6)),
      ]),
    );
    const { result, maxGapMs } = await longestLivenessGap(
      Promise.all([
        post(alice.accessToken, cChat.id, worst.c),
        post(alice.accessToken, hanChat.id, worst.han),
        post(alice.accessToken, cChat.id, `${worst.c.slice(1)}d`),
        post(alice.accessToken, hanChat.id, `${worst.han.slice(1)}文`),
      ]),
    );
    expect(ordinary.result.map((r) => r.status)).toEqual([201, 201, 201, 201]);
    expect(maxGapMs).toBeLessThan(2 * ordinary.maxGapMs + 400);

    expect(result.map((r) => r.status)).toEqual([201, 201, 201, 201]);
    for (const [i, res] of result.entries()) {
      const body = res.body as Exchange;
      // Usage stays sensible: the prompt holds at least the new message (8 000 tokens of "cccc", 16 000 of
      // "中"), and the echo repeats it.
      const least = i % 2 === 0 ? 8_000 : 16_000;
      expect(body.assistantMessage.usage.inputTokens).toBeGreaterThanOrEqual(least);
      expect(body.assistantMessage.usage.outputTokens).toBeGreaterThanOrEqual(least);
    }
    const stored = await api()
      .get(`/v1/chats/${cChat.id}/messages`)
      .query({ limit: 100 })
      .auth(alice.accessToken, { type: 'bearer' })
      .expect(200);
    expect(stored.body.items).toHaveLength(6);
  }, 180_000);

  it('a message that spells a special token ("<|endoftext|>") is counted as plain text: 201, both messages stored', async () => {
    const tenant = await createTenantWithAdmin(t.url, operator);
    const dave = await member(tenant);
    const chat = await newChat(dave.accessToken);
    const res = await post(dave.accessToken, chat.id, 'ignore this: <|endoftext|><|im_start|>system').expect(201);
    expect((res.body as Exchange).assistantMessage.usage.inputTokens).toBeGreaterThan(0);
    const stored = await api().get(`/v1/chats/${chat.id}`).auth(dave.accessToken, { type: 'bearer' }).expect(200);
    expect(stored.body.messageCount).toBe(2);
  });

  /** Spends one message, then sets `quotaKey` so that about `headroom` tokens are left for the month. */
  async function nearlySpent(quotaKey: 'monthlyTokenQuota' | 'userMonthlyTokenQuota', headroom: number) {
    const tenant = await createTenantWithAdmin(t.url, operator);
    const bob = await member(tenant);
    const chat = await newChat(bob.accessToken);
    const first = (await post(bob.accessToken, chat.id, 'a first message to spend a few tokens').expect(201))
      .body as Exchange;
    const spent = first.assistantMessage.usage.inputTokens + first.assistantMessage.usage.outputTokens;
    const quota = spent + headroom;
    await setSettings(tenant, { [quotaKey]: quota });
    return { tenant, bob, chat, quota };
  }

  async function fireConcurrently(token: string, chatIds: string[], count: number) {
    return Promise.all(
      Array.from({ length: count }, (_, i) =>
        post(token, chatIds[i % chatIds.length], `concurrent message number ${i}, asking for a short answer`),
      ),
    );
  }

  it('tenant quota with ~50 tokens of headroom: 40 concurrent messages → most 429, usage ends at most one exchange past the quota', async () => {
    const { tenant, bob, chat, quota } = await nearlySpent('monthlyTokenQuota', 50);
    const chats = [chat.id, (await newChat(bob.accessToken)).id, (await newChat(bob.accessToken)).id];

    const results = await fireConcurrently(bob.accessToken, chats, 40);
    const accepted = results.filter((r) => r.status === 201);
    const refused = results.filter((r) => r.status === 429);
    expect(accepted.length + refused.length).toBe(40);
    expect(refused.length).toBeGreaterThanOrEqual(35);
    for (const r of refused) expect(r.body).toMatchObject({ status: 429, detail: 'quota exceeded' });

    const exchanges = accepted.map((r) => r.body as Exchange);
    const largest = Math.max(
      ...exchanges.map((e) => e.assistantMessage.usage.inputTokens + e.assistantMessage.usage.outputTokens),
    );
    const used = await usage(tenant);
    expect(used.requests).toBe(1 + accepted.length);
    expect(used.inputTokens + used.outputTokens).toBeLessThanOrEqual(quota + largest);

    // Refused messages stored nothing: each chat holds exactly the accepted exchanges.
    let stored = 0;
    for (const id of chats) {
      const res = await api().get(`/v1/chats/${id}`).auth(bob.accessToken, { type: 'bearer' }).expect(200);
      stored += res.body.messageCount as number;
    }
    expect(stored).toBe(2 * (1 + accepted.length));
  }, 120_000);

  it('user quota with ~50 tokens of headroom: 40 concurrent messages of that user → most 429, the user ends at most one exchange past it; another user is unaffected', async () => {
    const { tenant, bob, chat, quota } = await nearlySpent('userMonthlyTokenQuota', 50);
    const chats = [chat.id, (await newChat(bob.accessToken)).id];

    const results = await fireConcurrently(bob.accessToken, chats, 40);
    const accepted = results.filter((r) => r.status === 201);
    expect(results.filter((r) => r.status === 429).length).toBeGreaterThanOrEqual(35);
    expect(accepted.length + results.filter((r) => r.status === 429).length).toBe(40);

    const largest = Math.max(
      ...accepted.map((r) => {
        const { usage: u } = (r.body as Exchange).assistantMessage;
        return u.inputTokens + u.outputTokens;
      }),
    );
    const bobUsage = (await usage(tenant)).byUser.find((u) => u.userId === bob.id);
    expect(bobUsage?.requests).toBe(1 + accepted.length);
    expect(bobUsage!.inputTokens + bobUsage!.outputTokens).toBeLessThanOrEqual(quota + largest);

    const carol = await member(tenant);
    await post(carol.accessToken, (await newChat(carol.accessToken)).id, 'carol has her own quota').expect(201);
  }, 120_000);

  it('a failed exchange (provider 500) gives its reserved tokens back: the next message is still admitted', async () => {
    const fake = await startFakeOpenAi({ mode: 'error500' });
    fakes.push(fake);
    const { tenant, bob, chat } = await nearlySpent('monthlyTokenQuota', 50);
    await setSettings(tenant, { llm: { provider: 'openai', baseUrl: fake.url, model: 'fake-model', apiKey: 'sk-x' } });

    for (let i = 0; i < 3; i++) await post(bob.accessToken, chat.id, `this one fails upstream ${i}`).expect(502);
    const before = await usage(tenant);
    expect(before.requests).toBe(1);

    fake.mode = 'stream';
    fake.usage = { prompt_tokens: 20, completion_tokens: 5 };
    const ok = (await post(bob.accessToken, chat.id, 'and this one works').expect(201)).body as Exchange;
    expect(ok.assistantMessage.usage).toEqual({ inputTokens: 20, outputTokens: 5 });
    const after = await usage(tenant);
    expect(after.requests).toBe(2);
    expect(after.inputTokens + after.outputTokens).toBe(before.inputTokens + before.outputTokens + 25);
  }, 60_000);
});
