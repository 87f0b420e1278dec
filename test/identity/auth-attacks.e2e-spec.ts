/**
 * Attacks on sign-in, driven over HTTP the way an attacker would (adversarial review, issue 11):
 * - password guessing in concurrent bursts, on one account and from one address, against tenant and operator
 *   login, spread over two instances: the throttle must bound the password checks, not just the answers;
 * - two tabs refreshing one refresh token at once: a short grace hands every duplicate the same successor, and
 *   a replay after the grace still revokes the whole session;
 * - forged refresh tokens naming a tenant id: the answer must not tell a suspended tenant from an active one.
 */
import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { PasswordHasher } from '@lib/auth';
import { ControlKeys, controlTableName, DynamoClients, rateLimitTableName, TenantKeys } from '@lib/dynamo';
import { randomBytes } from 'node:crypto';
import request from 'supertest';
import { ulid } from 'ulid';
import { OPERATOR_EMAIL, OPERATOR_PASSWORD, startApp, type TestApp, uniquePrefix } from '../support/harness';
import { createTenantWithAdmin, type TenantSession } from '../support/tenants';
import { loginOperator } from '../support/tokens';

const MAX_PER_ACCOUNT = 5;
const MAX_PER_ADDRESS = 50;

let addressCounter = 0;
/** An address (TEST-NET-3) no other test in this file uses, sent as X-Forwarded-For (TRUST_PROXY=true). */
function freshAddress(): string {
  addressCounter += 1;
  return `203.0.113.${addressCounter}`;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function statusCounts(responses: Array<{ status: number }>): Record<number, number> {
  const counts: Record<number, number> = {};
  for (const { status } of responses) counts[status] = (counts[status] ?? 0) + 1;
  return counts;
}

/** Counts the password checks (argon2 verifications, real or dummy) the apps' hashers make while `work` runs. */
async function countVerifications<T>(apps: TestApp[], work: () => Promise<T>): Promise<{ result: T; checks: number }> {
  // verifyDummy goes through verify too: counting verify alone counts every check once.
  const spies = apps.map((app) => jest.spyOn(app.app.get(PasswordHasher), 'verify'));
  try {
    const result = await work();
    return { result, checks: spies.reduce((sum, spy) => sum + spy.mock.calls.length, 0) };
  } finally {
    for (const spy of spies) spy.mockRestore();
  }
}

async function getItem(app: TestApp, tableName: string, key: Record<string, unknown>) {
  const { Item } = await app.app
    .get(DynamoClients)
    .doc.send(new GetCommand({ TableName: tableName, Key: key, ConsistentRead: true }));
  return Item;
}

/** The number of login attempts the throttle has counted under `key` in the shared rate-limit table. */
async function counted(app: TestApp, key: string): Promise<number | undefined> {
  const item = await getItem(app, rateLimitTableName(app.config.dynamo.tablePrefix), { key });
  return item?.points as number | undefined;
}

/** A well-formed refresh token for these ids whose secret nobody issued. */
function forgedRefreshToken(ids: string[]): string {
  return [...ids, randomBytes(32).toString('base64url')].join('.');
}

const withoutRequest = (body: Record<string, unknown>) => ({ ...body, requestId: undefined, instance: undefined });

describe('sign-in attacks', () => {
  let a: TestApp;
  /** A second instance on the same tables: limits must hold across instances. */
  let b: TestApp;
  let operator: string;
  let acme: TenantSession;
  const prefix = uniquePrefix();
  const env = {
    TABLE_PREFIX: prefix,
    TRUST_PROXY: 'true',
    LOGIN_MAX_FAILURES_PER_ACCOUNT: String(MAX_PER_ACCOUNT),
    LOGIN_MAX_FAILURES_PER_IP: String(MAX_PER_ADDRESS),
  };
  /** Alternates the two instances, as a load balancer would. */
  const via = (i: number) => request((i % 2 === 0 ? a : b).url);

  beforeAll(async () => {
    a = await startApp(env);
    b = await startApp(env);
    operator = (await loginOperator(a.url)).accessToken;
    acme = await createTenantWithAdmin(a.url, operator);
  });
  afterAll(async () => {
    await b?.close();
    await a?.close();
  });

  describe('concurrent refresh of one token (finding 7)', () => {
    it('tenant: 8 concurrent refreshes all get the same successor, which keeps working', async () => {
      const session = acme;
      const responses = await Promise.all(
        Array.from({ length: 8 }, (_, i) =>
          via(i).post('/v1/auth/refresh').send({ refreshToken: session.refreshToken }),
        ),
      );
      expect(statusCounts(responses)).toEqual({ 200: 8 });
      const successors = new Set(responses.map((r) => r.body.refreshToken as string));
      expect(successors.size).toBe(1);
      const [successor] = successors;
      expect(successor).not.toBe(session.refreshToken);
      for (const res of responses) {
        await via(1).get('/v1/me').auth(res.body.accessToken, { type: 'bearer' }).expect(200);
      }
      const next = await via(1).post('/v1/auth/refresh').send({ refreshToken: successor }).expect(200);
      expect(next.body.refreshToken).not.toBe(successor);
      const [, userId, sessionId] = session.refreshToken.split('.');
      const item = await getItem(a, session.tableName, TenantKeys.session(userId, sessionId));
      expect(item?.revoked).toBe(false);
    });

    it('operator: 8 concurrent refreshes all get the same successor, which keeps working', async () => {
      const first = await request(b.url)
        .post('/v1/platform/auth/login')
        .send({ email: OPERATOR_EMAIL, password: OPERATOR_PASSWORD });
      expect(first.status).toBe(200);
      const refreshToken = first.body.refreshToken as string;
      const responses = await Promise.all(
        Array.from({ length: 8 }, (_, i) => via(i).post('/v1/platform/auth/refresh').send({ refreshToken })),
      );
      expect(statusCounts(responses)).toEqual({ 200: 8 });
      const successors = new Set(responses.map((r) => r.body.refreshToken as string));
      expect(successors.size).toBe(1);
      const [successor] = successors;
      await via(0).post('/v1/platform/auth/refresh').send({ refreshToken: successor }).expect(200);
      const [operatorId, sessionId] = refreshToken.split('.');
      const item = await getItem(a, controlTableName(prefix), ControlKeys.operatorSession(operatorId, sessionId));
      expect(item?.revoked).toBe(false);
    });
  });

  describe('suspended-tenant oracle (finding 8)', () => {
    it('a forged refresh token gets the same answer whether its tenant is active or suspended', async () => {
      const active = await createTenantWithAdmin(a.url, operator);
      const suspended = await createTenantWithAdmin(a.url, operator);
      await request(a.url)
        .patch(`/v1/tenants/${suspended.tenantId}`)
        .auth(operator, { type: 'bearer' })
        .send({ status: 'suspended' })
        .expect(200);
      const answers = [];
      for (const session of [active, suspended]) {
        // Random ids, and the tenant's real user and session ids (both are visible in any token of theirs).
        const [tenantId, userId, sessionId] = session.refreshToken.split('.');
        for (const ids of [
          [tenantId, ulid(), ulid()],
          [tenantId, userId, sessionId],
        ]) {
          for (const instance of [a, b]) {
            const res = await request(instance.url)
              .post('/v1/auth/refresh')
              .send({ refreshToken: forgedRefreshToken(ids) });
            answers.push({ status: res.status, body: withoutRequest(res.body) });
          }
        }
      }
      expect(answers[0].status).toBe(401);
      for (const answer of answers) expect(answer).toEqual(answers[0]);

      // The genuine token still tells its holder, and the forgeries revoked nothing: resumed, it works.
      await request(a.url).post('/v1/auth/refresh').send({ refreshToken: suspended.refreshToken }).expect(403);
      await request(a.url)
        .patch(`/v1/tenants/${suspended.tenantId}`)
        .auth(operator, { type: 'bearer' })
        .send({ status: 'active' })
        .expect(200);
      await request(a.url).post('/v1/auth/refresh').send({ refreshToken: suspended.refreshToken }).expect(200);
    });
  });

  describe('concurrent password guessing (finding 2)', () => {
    it('40 concurrent wrong passwords on one tenant account: at most 5 checked, then even the right one is refused', async () => {
      const address = freshAddress();
      const email = acme.adminEmail;
      const { result: responses, checks } = await countVerifications([a, b], () =>
        Promise.all(
          Array.from({ length: 40 }, (_, i) =>
            via(i)
              .post('/v1/auth/login')
              .set('X-Forwarded-For', address)
              .send({ tenant: acme.slug, email, password: `wrong-password-${i}` }),
          ),
        ),
      );
      const counts = statusCounts(responses);
      // Each 401 is a password check; all else must be refused before one.
      expect((counts[401] ?? 0) + (counts[429] ?? 0)).toBe(40);
      expect(counts[401]).toBeLessThanOrEqual(MAX_PER_ACCOUNT);
      for (const res of responses.filter((r) => r.status === 429)) {
        expect(Number(res.headers['retry-after'])).toBeGreaterThan(0);
      }
      // One password check per 401, none for a 429, on either instance.
      expect(checks).toBe(counts[401]);

      // The right password during the lockout is refused, from this address and from any other, on both instances.
      for (const [i, from] of [
        [0, address],
        [1, freshAddress()],
      ] as const) {
        const right = await via(i)
          .post('/v1/auth/login')
          .set('X-Forwarded-For', from)
          .send({ tenant: acme.slug, email, password: acme.adminPassword });
        expect(right.status).toBe(429);
        expect(right.body).not.toHaveProperty('accessToken');
      }
      // Every attempt that was checked is still counted: none was lost to a race.
      expect(await counted(a, `login-account:${acme.slug}:${email}`)).toBe(counts[401]);
    });

    it('100 concurrent guesses on 100 accounts from one address: at most 50 checked, then the address is refused', async () => {
      const address = freshAddress();
      const { result: responses, checks } = await countVerifications([a, b], () =>
        Promise.all(
          Array.from({ length: 100 }, (_, i) =>
            via(i)
              .post('/v1/auth/login')
              .set('X-Forwarded-For', address)
              .send({ tenant: acme.slug, email: `guess-${i}@${acme.slug}.test`, password: `guess-${i}-password` }),
          ),
        ),
      );
      const counts = statusCounts(responses);
      expect((counts[401] ?? 0) + (counts[429] ?? 0)).toBe(100);
      expect(counts[401]).toBeLessThanOrEqual(MAX_PER_ADDRESS);
      expect(checks).toBe(counts[401]);
      // The address stays refused, even with a right password; the account itself is fine from elsewhere.
      await via(0)
        .post('/v1/auth/login')
        .set('X-Forwarded-For', address)
        .send({ tenant: acme.slug, email: acme.adminEmail, password: acme.adminPassword })
        .expect(429);
      expect(await counted(a, `login-ip:${address}`)).toBe(counts[401]);
    });

    it('unknown tenant, unknown email, wrong password: the same 401 and each counts against the address', async () => {
      const address = freshAddress();
      const attempts = [
        { tenant: 'no-such-tenant', email: acme.adminEmail, password: acme.adminPassword },
        { tenant: acme.slug, email: `nobody@${acme.slug}.test`, password: acme.adminPassword },
        { tenant: acme.slug, email: `x${acme.adminEmail}`, password: 'wrong-password-1' },
      ];
      const bodies = [];
      for (const body of attempts) {
        const res = await via(0).post('/v1/auth/login').set('X-Forwarded-For', address).send(body).expect(401);
        bodies.push(withoutRequest(res.body));
      }
      expect(new Set(bodies.map((body) => JSON.stringify(body))).size).toBe(1);
      expect(await counted(a, `login-ip:${address}`)).toBe(attempts.length);
    });

    it('a successful login gives its address point back and clears the account', async () => {
      const address = freshAddress();
      // A fresh account: the admin's is locked by the first test of this block.
      const other = await createTenantWithAdmin(a.url, operator);
      for (let i = 0; i < 2; i++) {
        await via(i)
          .post('/v1/auth/login')
          .set('X-Forwarded-For', address)
          .send({ tenant: other.slug, email: other.adminEmail, password: 'wrong-password-x' })
          .expect(401);
      }
      await via(0)
        .post('/v1/auth/login')
        .set('X-Forwarded-For', address)
        .send({ tenant: other.slug, email: other.adminEmail, password: other.adminPassword })
        .expect(200);
      expect(await counted(a, `login-account:${other.slug}:${other.adminEmail}`)).toBeUndefined();
      expect(await counted(a, `login-ip:${address}`)).toBe(2);
    });

    it('100 concurrent operator guesses on 100 emails from one address: at most 50 checked', async () => {
      const address = freshAddress();
      const { result: responses, checks } = await countVerifications([a, b], () =>
        Promise.all(
          Array.from({ length: 100 }, (_, i) =>
            via(i)
              .post('/v1/platform/auth/login')
              .set('X-Forwarded-For', address)
              .send({ email: `guess-${i}@operators.test`, password: `guess-${i}-password` }),
          ),
        ),
      );
      const counts = statusCounts(responses);
      expect((counts[401] ?? 0) + (counts[429] ?? 0)).toBe(100);
      expect(counts[401]).toBeLessThanOrEqual(MAX_PER_ADDRESS);
      expect(checks).toBe(counts[401]);
      await via(1)
        .post('/v1/platform/auth/login')
        .set('X-Forwarded-For', address)
        .send({ email: OPERATOR_EMAIL, password: OPERATOR_PASSWORD })
        .expect(429);
      expect(await counted(a, `login-ip:${address}`)).toBe(counts[401]);
    });

    // Last: it locks the bootstrap operator out for the window.
    it('40 concurrent wrong passwords on the operator account: at most 5 checked, then the right one is refused', async () => {
      const address = freshAddress();
      const { result: responses, checks } = await countVerifications([a, b], () =>
        Promise.all(
          Array.from({ length: 40 }, (_, i) =>
            via(i)
              .post('/v1/platform/auth/login')
              .set('X-Forwarded-For', address)
              .send({ email: OPERATOR_EMAIL, password: `wrong-password-${i}` }),
          ),
        ),
      );
      const counts = statusCounts(responses);
      expect((counts[401] ?? 0) + (counts[429] ?? 0)).toBe(40);
      expect(counts[401]).toBeLessThanOrEqual(MAX_PER_ACCOUNT);
      // One password check per 401, none for a 429, on either instance.
      expect(checks).toBe(counts[401]);
      const right = await via(1)
        .post('/v1/platform/auth/login')
        .set('X-Forwarded-For', freshAddress())
        .send({ email: OPERATOR_EMAIL, password: OPERATOR_PASSWORD });
      expect(right.status).toBe(429);
      expect(Number(right.headers['retry-after'])).toBeGreaterThan(0);
      expect(await counted(a, `login-operator:${OPERATOR_EMAIL}`)).toBe(counts[401]);
    });
  });
});

describe('refresh replay after the grace window (finding 7)', () => {
  const GRACE_SECONDS = 1;
  let t: TestApp;
  let operator: string;
  let acme: TenantSession;

  beforeAll(async () => {
    t = await startApp({ REFRESH_REUSE_GRACE: `${GRACE_SECONDS}s` });
    operator = (await loginOperator(t.url)).accessToken;
    acme = await createTenantWithAdmin(t.url, operator);
  });
  afterAll(() => t?.close());

  it('tenant: the rotated-out token presented after the grace revokes the session, successor included', async () => {
    const rotated = acme.refreshToken;
    const successor = (await request(t.url).post('/v1/auth/refresh').send({ refreshToken: rotated }).expect(200)).body
      .refreshToken as string;
    await sleep(GRACE_SECONDS * 1000 + 500);
    await request(t.url).post('/v1/auth/refresh').send({ refreshToken: rotated }).expect(401);
    await request(t.url).post('/v1/auth/refresh').send({ refreshToken: successor }).expect(401);
    const [, userId, sessionId] = rotated.split('.');
    const item = await getItem(t, acme.tableName, TenantKeys.session(userId, sessionId));
    expect(item?.revoked).toBe(true);
  });

  it('operator: the rotated-out token presented after the grace revokes the session, successor included', async () => {
    const { refreshToken: rotated } = await loginOperator(t.url);
    const successor = (
      await request(t.url).post('/v1/platform/auth/refresh').send({ refreshToken: rotated }).expect(200)
    ).body.refreshToken as string;
    await sleep(GRACE_SECONDS * 1000 + 500);
    await request(t.url).post('/v1/platform/auth/refresh').send({ refreshToken: rotated }).expect(401);
    await request(t.url).post('/v1/platform/auth/refresh').send({ refreshToken: successor }).expect(401);
    const [operatorId, sessionId] = rotated.split('.');
    const item = await getItem(
      t,
      controlTableName(t.config.dynamo.tablePrefix),
      ControlKeys.operatorSession(operatorId, sessionId),
    );
    expect(item?.revoked).toBe(true);
  });
});
