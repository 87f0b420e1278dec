/**
 * The change feed across two API instances (built, as child processes) on one DynamoDB: a change that alters
 * access, made through instance A, is enforced by instance B within the revocation bound (2 s), including after
 * B could not read the feed (SIGSTOP) and for a writer whose clock is behind.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, TransactWriteCommand } from '@aws-sdk/lib-dynamodb';
import request from 'supertest';
import { ulid } from 'ulid';
import { uniquePrefix } from '../support/harness';
import {
  apiBuilt,
  apiEnv,
  type ApiProcess,
  sleep,
  startApi,
  stopAllApis,
  waitUntilStopped,
} from '../support/processes';
import { createTenantWithAdmin, createUser, rolesByName, type TenantSession } from '../support/tenants';
import { loginOperator } from '../support/tokens';

/** REVOCATION_BOUND_MS's default: how long another instance may still serve a revoked caller. */
const BOUND_MS = 2_000;

if (!apiBuilt && process.env.CI) throw new Error('the API is not built: run npm run build first');
const describeBuilt = apiBuilt ? describe : describe.skip;

describeBuilt('the change feed: revocation on every instance within 2 s', () => {
  const prefix = uniquePrefix();
  let a: ApiProcess;
  let b: ApiProcess;
  let operator: string;
  let acme: TenantSession;
  let roles: Record<string, string>;

  beforeAll(async () => {
    const env = apiEnv({
      DYNAMODB_ENDPOINT: process.env.DYNAMODB_ENDPOINT,
      TABLE_PREFIX: prefix,
      SHUTDOWN_GRACE_MS: '3000',
      LOGIN_MAX_FAILURES_PER_IP: '100000',
    });
    [a, b] = await Promise.all([
      startApi(env, { name: 'api-a', readyTimeoutMs: 120_000 }),
      startApi(env, { name: 'api-b', readyTimeoutMs: 120_000 }),
    ]);
    operator = (await loginOperator(a.url)).accessToken;
    acme = await createTenantWithAdmin(a.url, operator);
    roles = await rolesByName(a.url, acme.accessToken);
  }, 180_000);
  afterAll(() => stopAllApis(5_000), 30_000);

  const api = (p: ApiProcess) => request(p.url);
  const get = (p: ApiProcess, path: string, token: string) => api(p).get(path).auth(token, { type: 'bearer' });

  /**
   * Polls B every 50 ms until `path` answers `status` (after B served something else), and returns how long
   * that took from `since`. Fails past 3× the bound.
   */
  async function enforcedOnB(path: string, token: string, status: number, since: number): Promise<number> {
    for (;;) {
      const res = await get(b, path, token);
      if (res.status === status) return Date.now() - since;
      if (Date.now() - since > 3 * BOUND_MS) {
        throw new Error(`B still answers ${res.status} (not ${status}) ${Date.now() - since} ms after the change`);
      }
      await sleep(50);
    }
  }

  /** Makes B cache the caller (and tenant and roles) first, so that only the feed can change its answer. */
  const warm = async (token: string, path = '/v1/me') => {
    await get(b, path, token).expect(200);
    await get(b, path, token).expect(200);
  };

  it('a user disabled, then re-enabled, through A', async () => {
    const user = await createUser(a.url, acme.accessToken, acme.slug, [roles.member]);
    await warm(user.accessToken);
    await api(a)
      .patch(`/v1/users/${user.id}`)
      .auth(acme.accessToken, { type: 'bearer' })
      .send({ disabled: true })
      .expect(200);
    const disabledAt = Date.now();
    await get(a, '/v1/me', user.accessToken).expect(401); // at once where it was made
    expect(await enforcedOnB('/v1/me', user.accessToken, 401, disabledAt)).toBeLessThan(BOUND_MS);

    await api(a)
      .patch(`/v1/users/${user.id}`)
      .auth(acme.accessToken, { type: 'bearer' })
      .send({ disabled: false })
      .expect(200);
    const enabledAt = Date.now();
    // Disabling revoked the tokens issued before it, to the second (JWT times are whole seconds): a new
    // sign-in, in a later second, is needed, and B accepts it as fast.
    await get(a, '/v1/me', user.accessToken).expect(401);
    await sleep(1_000 - (Date.now() % 1_000) + 10);
    const login = await api(a)
      .post('/v1/auth/login')
      .send({ tenant: acme.slug, email: user.email, password: user.password })
      .expect(200);
    expect(await enforcedOnB('/v1/me', login.body.accessToken as string, 200, enabledAt)).toBeLessThan(BOUND_MS);
  });

  it('a user deleted through A', async () => {
    const user = await createUser(a.url, acme.accessToken, acme.slug, [roles.member]);
    await warm(user.accessToken);
    await api(a).delete(`/v1/users/${user.id}`).auth(acme.accessToken, { type: 'bearer' }).expect(204);
    expect(await enforcedOnB('/v1/me', user.accessToken, 401, Date.now())).toBeLessThan(BOUND_MS);
  });

  it("a user's roles changed through A", async () => {
    const user = await createUser(a.url, acme.accessToken, acme.slug, [roles.admin]);
    await warm(user.accessToken, '/v1/users');
    await api(a)
      .patch(`/v1/users/${user.id}`)
      .auth(acme.accessToken, { type: 'bearer' })
      .send({ roleIds: [roles.member] })
      .expect(200);
    expect(await enforcedOnB('/v1/users', user.accessToken, 403, Date.now())).toBeLessThan(BOUND_MS);
  });

  it("a role's permissions changed through A, given back, then the role deleted", async () => {
    const role = await api(a)
      .post('/v1/roles')
      .auth(acme.accessToken, { type: 'bearer' })
      .send({ name: `readers-${Date.now()}`, permissions: ['users:read'] })
      .expect(201);
    const user = await createUser(a.url, acme.accessToken, acme.slug, [roles.member, role.body.id as string]);
    // B learns of the new role through the feed too (until then its holder has fewer permissions there, not more).
    expect(await enforcedOnB('/v1/users', user.accessToken, 200, Date.now())).toBeLessThan(BOUND_MS);
    await api(a)
      .patch(`/v1/roles/${role.body.id}`)
      .auth(acme.accessToken, { type: 'bearer' })
      .send({ permissions: ['chats:read'] })
      .expect(200);
    expect(await enforcedOnB('/v1/users', user.accessToken, 403, Date.now())).toBeLessThan(BOUND_MS);
    // Given back, then the role deleted (once no user holds it): B drops the role as fast.
    await api(a)
      .patch(`/v1/roles/${role.body.id}`)
      .auth(acme.accessToken, { type: 'bearer' })
      .send({ permissions: ['users:read'] })
      .expect(200);
    expect(await enforcedOnB('/v1/users', user.accessToken, 200, Date.now())).toBeLessThan(BOUND_MS);
    const me = await get(b, '/v1/me', user.accessToken).expect(200);
    expect(me.body.roles.map((r: { id: string }) => r.id)).toContain(role.body.id);
    // A role can be deleted only once nobody holds it, so deleting one changes no caller's access; it is still
    // recorded, and B lists the holder's roles without it.
    await api(a)
      .patch(`/v1/users/${user.id}`)
      .auth(acme.accessToken, { type: 'bearer' })
      .send({ roleIds: [roles.member] })
      .expect(200);
    await api(a).delete(`/v1/roles/${role.body.id}`).auth(acme.accessToken, { type: 'bearer' }).expect(204);
    expect(await enforcedOnB('/v1/users', user.accessToken, 403, Date.now())).toBeLessThan(BOUND_MS);
  });

  it('a tenant suspended, resumed and deleted through A', async () => {
    const tenant = await createTenantWithAdmin(a.url, operator);
    await warm(tenant.accessToken);
    const patch = (status: string) =>
      api(a).patch(`/v1/tenants/${tenant.tenantId}`).auth(operator, { type: 'bearer' }).send({ status }).expect(200);
    await patch('suspended');
    expect(await enforcedOnB('/v1/me', tenant.accessToken, 403, Date.now())).toBeLessThan(BOUND_MS);
    await patch('active');
    expect(await enforcedOnB('/v1/me', tenant.accessToken, 200, Date.now())).toBeLessThan(BOUND_MS);
    await api(a).delete(`/v1/tenants/${tenant.tenantId}`).auth(operator, { type: 'bearer' }).expect(202);
    expect(await enforcedOnB('/v1/me', tenant.accessToken, 401, Date.now())).toBeLessThan(BOUND_MS);
  });

  it('a feed gap: B stopped while a user is disabled never serves that user once it resumes', async () => {
    const user = await createUser(a.url, acme.accessToken, acme.slug, [roles.member]);
    await warm(user.accessToken);
    process.kill(b.pid, 'SIGSTOP');
    try {
      await waitUntilStopped(b.pid);
      await api(a)
        .patch(`/v1/users/${user.id}`)
        .auth(acme.accessToken, { type: 'bearer' })
        .send({ disabled: true })
        .expect(200);
      await sleep(BOUND_MS + 1_000); // longer than the bound: B's cached user must not be trusted any more
      // The requests are on their way before B resumes: they race its first poll, and must not win it.
      const pending = Array.from({ length: 10 }, () => get(b, '/v1/me', user.accessToken).then((r) => r.status));
      await sleep(100);
      process.kill(b.pid, 'SIGCONT');
      expect(await Promise.all(pending)).toEqual(Array(10).fill(401));
    } finally {
      process.kill(b.pid, 'SIGCONT');
    }
    await get(b, '/v1/me', user.accessToken).expect(401);
  });

  it('a change written by a writer whose clock is 2 s behind is still applied', async () => {
    const user = await createUser(a.url, acme.accessToken, acme.slug, [roles.member]);
    await warm(user.accessToken);
    // Another writer, its clock 2 s behind: it disables the user and records the change at its own time.
    const doc = DynamoDBDocumentClient.from(
      new DynamoDBClient({
        endpoint: process.env.DYNAMODB_ENDPOINT,
        region: 'us-east-1',
        credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
      }),
    );
    const writerNow = Date.now() - 2_000;
    await doc.send(
      new TransactWriteCommand({
        TransactItems: [
          {
            Update: {
              TableName: acme.tableName,
              Key: { pk: `USER#${user.id}`, sk: 'USER' },
              UpdateExpression: 'SET disabled = :true ADD version :one',
              ExpressionAttributeValues: { ':true': true, ':one': 1 },
            },
          },
          {
            Put: {
              TableName: `${prefix}platform`,
              Item: {
                pk: `CHANGES#${new Date(writerNow).toISOString().slice(0, 13)}`,
                sk: ulid(writerNow),
                kind: 'user',
                tenantId: acme.tenantId,
                id: user.id,
                expiresAt: Math.floor(writerNow / 1000) + 86_400,
              },
            },
          },
        ],
      }),
    );
    const changedAt = Date.now();
    doc.destroy();
    for (const via of [a, b]) {
      const took = await (async () => {
        for (;;) {
          if ((await get(via, '/v1/me', user.accessToken)).status === 401) return Date.now() - changedAt;
          if (Date.now() - changedAt > 3 * BOUND_MS) throw new Error(`${via.name} still serves the user`);
          await sleep(50);
        }
      })();
      expect(took).toBeLessThan(BOUND_MS);
    }
  });
});
