/**
 * Two API instances (built, as child processes, same environment) on one DynamoDB: whatever one instance
 * issues, counts or changes holds on the other — tokens, refresh-token rotation and reuse detection, login
 * throttling, message rate limits, token quotas, tenant suspension and user disabling (within the revocation bound),
 * and concurrent appends to one chat.
 */
import request from 'supertest';
import { uniquePrefix } from '../support/harness';
import { apiBuilt, apiEnv, type ApiProcess, sleep, startApi, stopAllApis, waitFor } from '../support/processes';
import { createTenantWithAdmin, createUser, rolesByName, type TenantSession } from '../support/tenants';
import { loginOperator } from '../support/tokens';

/** REVOCATION_BOUND_MS's default: the change feed applies a change on other instances within it. */
const REVOCATION_BOUND_MS = 2_000;
/** How long to poll for a change made through one instance to apply on the other. */
const PROPAGATION_BOUND_MS = REVOCATION_BOUND_MS + 3_000;

if (!apiBuilt && process.env.CI) throw new Error('the API is not built: run npm run build first');
const describeBuilt = apiBuilt ? describe : describe.skip;

interface Message {
  id: string;
  role: string;
  content: string;
}

/** Starts two instances with the same environment, concurrently (as a rolling deploy would). */
async function startPair(env: Record<string, string>): Promise<[ApiProcess, ApiProcess]> {
  const [a, b] = await Promise.all([
    startApi(env, { name: 'api-a', readyTimeoutMs: 120_000 }),
    startApi(env, { name: 'api-b', readyTimeoutMs: 120_000 }),
  ]);
  return [a, b];
}

describeBuilt('two API instances on one DynamoDB', () => {
  const prefix = uniquePrefix();
  const baseEnv = {
    DYNAMODB_ENDPOINT: process.env.DYNAMODB_ENDPOINT,
    TABLE_PREFIX: prefix,
    SHUTDOWN_GRACE_MS: '3000',
    LOGIN_MAX_FAILURES_PER_IP: '100000',
  };
  afterAll(() => stopAllApis(5_000), 30_000);

  describe('shared limits and state (rate limits: 3 failed logins per account, 4 messages a minute per user)', () => {
    let a: ApiProcess;
    let b: ApiProcess;
    let operator: string;
    let acme: TenantSession;
    let memberRole: string;

    beforeAll(async () => {
      [a, b] = await startPair(
        apiEnv({
          ...baseEnv,
          LOGIN_MAX_FAILURES_PER_ACCOUNT: '3',
          CHAT_MESSAGES_PER_MINUTE_PER_USER: '4',
          CHAT_MESSAGES_PER_MINUTE_PER_TENANT: '100000',
        }),
      );
      operator = (await loginOperator(a.url)).accessToken;
      acme = await createTenantWithAdmin(a.url, operator);
      memberRole = (await rolesByName(a.url, acme.accessToken)).member;
    }, 180_000);
    afterAll(async () => {
      await Promise.all([a?.stop(5_000), b?.stop(5_000)]);
    }, 30_000);

    const api = (p: ApiProcess) => request(p.url);
    const member = (via: ApiProcess = a, tenant = acme) =>
      createUser(via.url, tenant.accessToken, tenant.slug, [memberRole]);
    const newChat = async (via: ApiProcess, token: string) =>
      (await api(via).post('/v1/chats').auth(token, { type: 'bearer' }).send({}).expect(201)).body.id as string;
    const postMessage = (via: ApiProcess, token: string, chatId: string, content: string) =>
      api(via).post(`/v1/chats/${chatId}/messages`).auth(token, { type: 'bearer' }).send({ content });

    it('both instances are ready and share the operator, tenants and users', async () => {
      const operatorViaB = (await loginOperator(b.url)).accessToken;
      const listed = await api(b).get('/v1/tenants?limit=100').auth(operatorViaB, { type: 'bearer' }).expect(200);
      expect((listed.body.items as Array<{ id: string }>).map((t) => t.id)).toContain(acme.tenantId);
    });

    it('an access token issued by one instance works on the other', async () => {
      const user = await member(a);
      const me = await api(b).get('/v1/me').auth(user.accessToken, { type: 'bearer' }).expect(200);
      expect(me.body).toMatchObject({ id: user.id, email: user.email, tenant: { id: acme.tenantId } });
      const fromB = await api(b)
        .post('/v1/auth/login')
        .send({ tenant: acme.slug, email: user.email, password: user.password })
        .expect(200);
      await api(a).get('/v1/me').auth(fromB.body.accessToken, { type: 'bearer' }).expect(200);
    });

    it('a refresh token rotated on one instance is rejected as reused on the other, and the session is dead on both', async () => {
      const user = await member(a);
      const first = user.refreshToken;
      const second = (await api(a).post('/v1/auth/refresh').send({ refreshToken: first }).expect(200)).body as {
        refreshToken: string;
      };
      const rotated = (await api(b).post('/v1/auth/refresh').send({ refreshToken: second.refreshToken }).expect(200))
        .body as { refreshToken: string };
      // Reuse of an older rotated-away token (not the one just rotated out, which REFRESH_REUSE_GRACE covers)
      // through the other instance: refused, and the session is revoked.
      await api(b).post('/v1/auth/refresh').send({ refreshToken: first }).expect(401);
      await api(a).post('/v1/auth/refresh').send({ refreshToken: rotated.refreshToken }).expect(401);
      await api(b).post('/v1/auth/refresh').send({ refreshToken: rotated.refreshToken }).expect(401);
      // Another session of the same user is not affected.
      const other = await api(b)
        .post('/v1/auth/login')
        .send({ tenant: acme.slug, email: user.email, password: user.password })
        .expect(200);
      await api(a).post('/v1/auth/refresh').send({ refreshToken: other.body.refreshToken }).expect(200);
    });

    it('concurrent refreshes of one token through both instances: one rotation, every caller gets the same successor', async () => {
      const user = await member(a);
      const results = await Promise.all(
        [a, b, a, b].map((p) => api(p).post('/v1/auth/refresh').send({ refreshToken: user.refreshToken })),
      );
      expect(results.map((r) => r.status)).toEqual([200, 200, 200, 200]);
      // Within REFRESH_REUSE_GRACE a duplicate gets the successor the winner got, whichever instance it reached.
      expect(new Set(results.map((r) => r.body.refreshToken)).size).toBe(1);
      await api(b).post('/v1/auth/refresh').send({ refreshToken: results[0].body.refreshToken }).expect(200);
    });

    it('failed logins are counted across instances (limit 3 per account, not 3 per instance)', async () => {
      const user = await member(a);
      const attempt = (via: ApiProcess, password: string) =>
        api(via).post('/v1/auth/login').send({ tenant: acme.slug, email: user.email, password });
      await attempt(a, 'wrong-password-1').expect(401);
      await attempt(b, 'wrong-password-2').expect(401);
      await attempt(a, 'wrong-password-3').expect(401);
      // The account is locked on both, even for the right password.
      for (const via of [b, a]) {
        const locked = await attempt(via, user.password).expect(429);
        expect(locked.headers['content-type']).toContain('application/problem+json');
        expect(Number(locked.headers['retry-after'])).toBeGreaterThanOrEqual(1);
      }
    });

    it('the message rate limit is shared (4 a minute per user): the 5th message is 429 on either instance', async () => {
      const user = await member(a);
      const chatId = await newChat(a, user.accessToken);
      for (const [i, via] of [a, b, a, b].entries())
        await postMessage(via, user.accessToken, chatId, `m${i}`).expect(201);
      for (const via of [a, b]) {
        const refused = await postMessage(via, user.accessToken, chatId, 'one too many').expect(429);
        expect(Number(refused.headers['retry-after'])).toBeGreaterThanOrEqual(1);
      }
      const chat = await api(b).get(`/v1/chats/${chatId}`).auth(user.accessToken, { type: 'bearer' }).expect(200);
      expect(chat.body.messageCount).toBe(8);
      // Another user is not affected.
      const other = await member(b);
      await postMessage(b, other.accessToken, await newChat(b, other.accessToken), 'hello').expect(201);
    });

    it('the tenant token quota is shared: used up through one instance → 429 on the other', async () => {
      const tenant = await createTenantWithAdmin(a.url, operator);
      await api(a)
        .patch(`/v1/tenants/${tenant.tenantId}`)
        .auth(operator, { type: 'bearer' })
        .send({ settings: { monthlyTokenQuota: 5 } })
        .expect(200);
      // B has not seen this tenant before: it reads the quota setting fresh (settings propagation is the
      // suspension test's subject); what is shared here is the usage counted in DynamoDB.
      const chatId = await newChat(a, tenant.accessToken);
      await postMessage(a, tenant.accessToken, chatId, 'this uses more than five tokens of the quota').expect(201);
      const refused = await postMessage(b, tenant.accessToken, chatId, 'over quota').expect(429);
      expect(refused.headers['content-type']).toContain('application/problem+json');
      expect(refused.body.detail).toBe('quota exceeded');
      await postMessage(a, tenant.accessToken, chatId, 'over quota').expect(429);
      // Nothing was stored for the refused messages.
      const chat = await api(b).get(`/v1/chats/${chatId}`).auth(tenant.accessToken, { type: 'bearer' }).expect(200);
      expect(chat.body.messageCount).toBe(2);
    });

    it('a tenant suspended through one instance is refused (403) by the other within the revocation bound', async () => {
      const tenant = await createTenantWithAdmin(a.url, operator);
      // B has the tenant cached.
      await api(b).get('/v1/me').auth(tenant.accessToken, { type: 'bearer' }).expect(200);
      await api(a)
        .patch(`/v1/tenants/${tenant.tenantId}`)
        .auth(operator, { type: 'bearer' })
        .send({ status: 'suspended' })
        .expect(200);
      const suspendedAt = Date.now();
      // At once on the instance that made the change.
      const here = await api(a).get('/v1/me').auth(tenant.accessToken, { type: 'bearer' }).expect(403);
      expect(here.body.detail).toBe('tenant suspended');
      // On the other within the bound (+ margin; change-feed.e2e-spec.ts holds the bound itself).
      const there = await waitFor(
        async () => {
          const res = await api(b).get('/v1/me').auth(tenant.accessToken, { type: 'bearer' });
          return res.status === 200 ? undefined : res;
        },
        PROPAGATION_BOUND_MS,
        250,
      );
      expect(there.status).toBe(403);
      expect(there.body.detail).toBe('tenant suspended');
      expect(Date.now() - suspendedAt).toBeLessThan(PROPAGATION_BOUND_MS);
      // Sign-in and refresh are refused too, on both.
      for (const via of [a, b]) {
        await api(via)
          .post('/v1/auth/login')
          .send({ tenant: tenant.slug, email: tenant.adminEmail, password: tenant.adminPassword })
          .expect(403);
      }
      await api(b).post('/v1/auth/refresh').send({ refreshToken: tenant.refreshToken }).expect(403);
      // And reactivated through B: A serves the tenant again as fast.
      await api(b)
        .patch(`/v1/tenants/${tenant.tenantId}`)
        .auth(operator, { type: 'bearer' })
        .send({ status: 'active' })
        .expect(200);
      await waitFor(
        async () => (await api(a).get('/v1/me').auth(tenant.accessToken, { type: 'bearer' })).status === 200,
        PROPAGATION_BOUND_MS,
        250,
      );
    });

    it('a user disabled through one instance loses access on the other within the revocation bound', async () => {
      const user = await member(a);
      await api(b).get('/v1/me').auth(user.accessToken, { type: 'bearer' }).expect(200);
      await api(a)
        .patch(`/v1/users/${user.id}`)
        .auth(acme.accessToken, { type: 'bearer' })
        .send({ disabled: true })
        .expect(200);
      await api(a).get('/v1/me').auth(user.accessToken, { type: 'bearer' }).expect(401);
      const there = await waitFor(
        async () => {
          const res = await api(b).get('/v1/me').auth(user.accessToken, { type: 'bearer' });
          return res.status === 200 ? undefined : res;
        },
        PROPAGATION_BOUND_MS,
        250,
      );
      expect(there.status).toBe(401);
      await api(b).post('/v1/auth/refresh').send({ refreshToken: user.refreshToken }).expect(401);
    });
  });

  describe('concurrent appends to one chat through both instances', () => {
    let a: ApiProcess;
    let b: ApiProcess;

    beforeAll(async () => {
      [a, b] = await startPair(
        apiEnv({
          ...baseEnv,
          CHAT_MESSAGES_PER_MINUTE_PER_USER: '100000',
          CHAT_MESSAGES_PER_MINUTE_PER_TENANT: '100000',
        }),
      );
    }, 180_000);
    afterAll(async () => {
      await Promise.all([a?.stop(5_000), b?.stop(5_000)]);
    }, 30_000);

    it('40 messages posted at once, half through each instance: all stored once, messageCount exact', async () => {
      const COUNT = 40;
      const operator = (await loginOperator(a.url)).accessToken;
      const tenant = await createTenantWithAdmin(b.url, operator);
      const token = tenant.accessToken;
      const chat = await request(a.url).post('/v1/chats').auth(token, { type: 'bearer' }).send({}).expect(201);
      const chatId = chat.body.id as string;
      // Both instances resolve the tenant and caller before the burst.
      await request(b.url).get(`/v1/chats/${chatId}`).auth(token, { type: 'bearer' }).expect(200);

      const results = await Promise.all(
        Array.from({ length: COUNT }, (_, i) =>
          request((i % 2 === 0 ? a : b).url)
            .post(`/v1/chats/${chatId}/messages`)
            .auth(token, { type: 'bearer' })
            .send({ content: `concurrent ${i}` }),
        ),
      );
      // Every exchange answered 201; a failure lists the others with their problem's detail (which write failed).
      const refused = results.filter((r) => r.status !== 201);
      expect(refused.map((r) => `${r.status} ${(r.body as { detail?: string }).detail ?? ''}`)).toEqual([]);

      await sleep(100);
      const got = await request(b.url).get(`/v1/chats/${chatId}`).auth(token, { type: 'bearer' }).expect(200);
      expect(got.body.messageCount).toBe(COUNT * 2);

      const messages: Message[] = [];
      let cursor: string | undefined;
      do {
        const page = await request(a.url)
          .get(`/v1/chats/${chatId}/messages`)
          .query({ limit: 100, ...(cursor ? { cursor } : {}) })
          .auth(token, { type: 'bearer' })
          .expect(200);
        messages.push(...(page.body.items as Message[]));
        cursor = page.body.nextCursor ?? undefined;
      } while (cursor);
      expect(messages).toHaveLength(COUNT * 2);
      expect(new Set(messages.map((m) => m.id)).size).toBe(COUNT * 2);
      const userContents = messages.filter((m) => m.role === 'user').map((m) => m.content);
      expect(userContents.sort()).toEqual(Array.from({ length: COUNT }, (_, i) => `concurrent ${i}`).sort());
      expect(messages.filter((m) => m.role === 'assistant')).toHaveLength(COUNT);
      // Every response's messages are the stored ones.
      const stored = new Set(messages.map((m) => m.id));
      for (const r of results) {
        expect(stored.has(r.body.userMessage.id)).toBe(true);
        expect(stored.has(r.body.assistantMessage.id)).toBe(true);
      }
    }, 120_000);
  });
});
