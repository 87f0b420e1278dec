/**
 * API keys of service accounts, driven over HTTP as a client and an attacker would: the secret is shown once
 * and stored only as a hash; a key works as a service principal with its roles' permissions that its creator
 * still holds, at no DynamoDB call per request once warm; revoked, expired, foreign, guessed and malformed keys
 * are refused alike, and failed attempts are rate-limited per address; a key never manages keys, and nobody
 * creates a key with more rights than their own.
 */
import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { DynamoClients, TenantKeys } from '@lib/dynamo';
import { MetricsService } from '@lib/observability';
import request from 'supertest';
import { ulid } from 'ulid';
import { startApp, type TestApp, uniquePrefix } from '../support/harness';
import { createTenantWithAdmin, createUser, rolesByName, type TenantSession } from '../support/tenants';
import { loginOperator } from '../support/tokens';

/** Failed key attempts an address may make per window (LOGIN_MAX_FAILURES_PER_IP). */
const MAX_FAILED_PER_ADDRESS = 4;
/** REVOCATION_BOUND_MS's default, plus margin: a change made on one instance applies on the other within it. */
const PROPAGATION_BOUND_MS = 5_000;

let addressCounter = 0;
/** An address (TEST-NET-3) no other test in this file uses, sent as X-Forwarded-For (TRUST_PROXY=true). */
function freshAddress(): string {
  addressCounter += 1;
  return `203.0.113.${addressCounter}`;
}

/** The secret part of `cpk_<tenant>_<key>_<secret>` (the secret is base64url, so it may contain `_` itself). */
const secretOf = (key: string) => key.slice('cpk_'.length + 26 + 1 + 26 + 1);

/**
 * DynamoDB calls other than Queries: every cache load on the key's path (tenant, key, creator: GetItem; roles:
 * BatchGetItem) and every write. The change feed's polls are Queries, and one in flight when counting starts
 * would otherwise count once.
 */
async function lookupsAndWrites(t: TestApp): Promise<number> {
  const text = await t.app.get(MetricsService).render();
  const counts = [...text.matchAll(/^dynamodb_request_duration_seconds_count\{operation="(\w+)"\} (\d+)/gm)];
  return counts.filter((m) => m[1] !== 'Query').reduce((n, m) => n + Number(m[2]), 0);
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

interface CreatedKey {
  id: string;
  key: string;
  prefix: string;
  roleIds: string[];
  createdBy: string;
}

describe('API keys', () => {
  let a: TestApp;
  /** A second instance on the same tables: a revoke must reach it within the revocation bound. */
  let b: TestApp;
  let acme: TenantSession;
  let globex: TenantSession;
  let roles: Record<string, string>;
  const prefix = uniquePrefix();
  const env = { TABLE_PREFIX: prefix, TRUST_PROXY: 'true', LOGIN_MAX_FAILURES_PER_IP: String(MAX_FAILED_PER_ADDRESS) };

  /** A request from its own address, so that failed attempts of one test never block another's. */
  const from = (app: TestApp, address = freshAddress()) => ({
    get: (path: string, credential: string) =>
      request(app.url).get(path).set('x-forwarded-for', address).auth(credential, { type: 'bearer' }),
  });

  async function createKey(token: string, body: Record<string, unknown>, expected = 201) {
    return request(a.url).post('/v1/api-keys').auth(token, { type: 'bearer' }).send(body).expect(expected);
  }

  async function createRole(permissions: string[]): Promise<string> {
    const res = await request(a.url)
      .post('/v1/roles')
      .auth(acme.accessToken, { type: 'bearer' })
      .send({ name: `r-${ulid().slice(-8).toLowerCase()}`, permissions })
      .expect(201);
    return res.body.id as string;
  }

  beforeAll(async () => {
    a = await startApp(env);
    b = await startApp(env);
    const operator = (await loginOperator(a.url)).accessToken;
    [acme, globex] = await Promise.all([
      createTenantWithAdmin(a.url, operator),
      createTenantWithAdmin(a.url, operator),
    ]);
    roles = await rolesByName(a.url, acme.accessToken);
  });
  afterAll(async () => {
    await b?.close();
    await a?.close();
  });

  it('shows the secret once, stores only its hash, and lists keys without it', async () => {
    const created = await createKey(acme.accessToken, { name: 'export', roleIds: [roles.member] });
    const key = created.body as CreatedKey;
    expect(key.key).toMatch(new RegExp(`^cpk_${acme.tenantId}_${key.id}_[A-Za-z0-9_-]{43}$`));
    expect(key.key.startsWith(key.prefix)).toBe(true);
    expect(key.key.length - key.prefix.length).toBeGreaterThan(30);
    expect(created.body).not.toHaveProperty('secretHash');

    const stored = await a.app.get(DynamoClients).doc.send(
      new GetCommand({
        TableName: acme.tableName,
        Key: { pk: `APIKEY#${key.id}`, sk: 'APIKEY' },
        ConsistentRead: true,
      }),
    );
    const secret = secretOf(key.key);
    expect(secret).toHaveLength(43);
    expect(stored.Item?.secretHash).toEqual(expect.any(String));
    expect(JSON.stringify(stored.Item)).not.toContain(secret);

    const list = await request(a.url).get('/v1/api-keys').auth(acme.accessToken, { type: 'bearer' }).expect(200);
    const listed = (list.body.items as Array<Record<string, unknown>>).find((k) => k.id === key.id);
    expect(listed).toEqual({
      id: key.id,
      name: 'export',
      prefix: key.prefix,
      roleIds: [roles.member],
      createdBy: expect.any(String),
      createdAt: expect.any(String),
    });
    expect(JSON.stringify(list.body)).not.toContain(secret);
    expect(JSON.stringify(list.body)).not.toContain(stored.Item?.secretHash as string);
  });

  it('acts as a service principal with its roles, and only on the routes of its permissions', async () => {
    const { key } = (await createKey(acme.accessToken, { name: 'reader', roleIds: [roles.member] })).body as CreatedKey;
    const client = from(a);
    await client.get('/v1/chats', key).expect(200);
    const denied = await client.get('/v1/users', key).expect(403);
    expect(denied.body.detail).toContain('users:read');
    // The routes about a signed-in user take access tokens only.
    await client.get('/v1/me', key).expect(401);
    // A key is never a platform credential.
    await client.get('/v1/platform/me', key).expect(401);
  });

  it('costs no DynamoDB call per request once warm', async () => {
    const { key, id } = (await createKey(acme.accessToken, { name: 'hot', roleIds: [roles.admin] })).body as CreatedKey;
    const client = from(a);
    await client.get('/v1/permissions', key).expect(200);
    // The first use records "last used" (once per key per 5 minutes, not awaited): let that write land, and its
    // call be counted, before counting.
    const stored = () =>
      a.app
        .get(DynamoClients)
        .doc.send(new GetCommand({ TableName: acme.tableName, Key: { pk: `APIKEY#${id}`, sk: 'APIKEY' } }));
    for (let i = 0; i < 100 && !(await stored()).Item?.lastUsedAt; i++) await sleep(20);
    let before = await lookupsAndWrites(a);
    for (let i = 0; i < 40; i++) {
      await sleep(50);
      const now = await lookupsAndWrites(a);
      if (now === before) break;
      before = now;
    }
    for (let i = 0; i < 20; i++) await client.get('/v1/permissions', key).expect(200);
    expect((await lookupsAndWrites(a)) - before).toBe(0);
    const list = await request(a.url).get('/v1/api-keys').auth(acme.accessToken, { type: 'bearer' }).expect(200);
    expect(
      (list.body.items as Array<{ id: string; lastUsedAt?: string }>).find((k) => k.id === id)?.lastUsedAt,
    ).toEqual(expect.any(String));
  });

  it('a revoked key is refused at once here and within the revocation bound on another instance', async () => {
    const { key, id } = (await createKey(acme.accessToken, { name: 'doomed', roleIds: [roles.member] }))
      .body as CreatedKey;
    await from(a).get('/v1/chats', key).expect(200);
    await from(b).get('/v1/chats', key).expect(200);
    await request(a.url).delete(`/v1/api-keys/${id}`).auth(acme.accessToken, { type: 'bearer' }).expect(204);
    const refused = await from(a).get('/v1/chats', key).expect(401);
    expect(refused.body.detail).toBe('invalid, expired or revoked API key');
    const deadline = Date.now() + PROPAGATION_BOUND_MS;
    let status = 200;
    while (Date.now() < deadline && status !== 401) {
      status = (await from(b).get('/v1/chats', key)).status;
      if (status !== 401) await sleep(100);
    }
    expect(status).toBe(401);
    const list = await request(a.url).get('/v1/api-keys').auth(acme.accessToken, { type: 'bearer' }).expect(200);
    expect((list.body.items as Array<{ id: string }>).map((k) => k.id)).not.toContain(id);
    await request(a.url).delete(`/v1/api-keys/${id}`).auth(acme.accessToken, { type: 'bearer' }).expect(404);
  });

  it('an expired key is refused, and no key is created already expired', async () => {
    await createKey(
      acme.accessToken,
      { name: 'late', roleIds: [], expiresAt: new Date(Date.now() - 1000).toISOString() },
      400,
    );
    const expiresAt = new Date(Date.now() + 1500).toISOString();
    const { key } = (await createKey(acme.accessToken, { name: 'brief', roleIds: [roles.member], expiresAt }))
      .body as CreatedKey;
    await from(a).get('/v1/chats', key).expect(200);
    await sleep(Date.parse(expiresAt) - Date.now() + 50);
    const refused = await from(a).get('/v1/chats', key).expect(401);
    expect(refused.body.detail).toBe('invalid, expired or revoked API key');
  });

  it('refuses a key presented for another tenant, a guessed secret, and malformed keys alike', async () => {
    const { key, id } = (await createKey(acme.accessToken, { name: 'target', roleIds: [roles.member] }))
      .body as CreatedKey;
    const secret = secretOf(key);
    const flip = (s: string) => (s[0] === 'A' ? 'B' : 'A') + s.slice(1);
    const attempts = [
      `cpk_${globex.tenantId}_${id}_${secret}`, // the same key under another tenant
      `cpk_${acme.tenantId}_${id}_${flip(secret)}`, // a guessed secret for a real key id
      `cpk_${acme.tenantId}_${ulid()}_${secret}`, // the secret under another key id
      `${key}x`, // malformed
    ];
    for (const attempt of attempts) {
      const res = await from(a).get('/v1/chats', attempt).expect(401);
      expect(res.body.detail).toBe('invalid, expired or revoked API key');
    }
    // The real key still works: failures above came from other addresses.
    await from(a).get('/v1/chats', key).expect(200);
  });

  it('rate-limits failed key attempts per address, before the key is looked at', async () => {
    const { key, id } = (await createKey(acme.accessToken, { name: 'svc', roleIds: [roles.member] }))
      .body as CreatedKey;
    const address = freshAddress();
    const guess = `cpk_${acme.tenantId}_${id}_${'A'.repeat(43)}`;
    for (let i = 0; i < MAX_FAILED_PER_ADDRESS; i++) await from(a, address).get('/v1/chats', guess).expect(401);
    const blocked = await from(a, address).get('/v1/chats', guess).expect(429);
    expect(Number(blocked.headers['retry-after'])).toBeGreaterThan(0);
    // Blocked means not looked at: even the right key is refused from that address.
    await from(a, address).get('/v1/chats', key).expect(429);
    // The other instance counts on the same counter: its first failure from the address is refused too.
    await from(b, address).get('/v1/chats', guess).expect(429);
    await from(a).get('/v1/chats', key).expect(200);
  });

  it('nobody creates a key with more rights than their own, and a key never manages keys', async () => {
    const keyManager = await createRole(['api-keys:manage', 'chats:read', 'roles:read']);
    const manager = await createUser(a.url, acme.accessToken, acme.slug, [keyManager]);
    const escalation = await createKey(manager.accessToken, { name: 'more', roleIds: [roles.admin] }, 403);
    expect(escalation.body.detail).toContain('you cannot grant permissions you do not hold');
    const member = await createUser(a.url, acme.accessToken, acme.slug, [roles.member]);
    await createKey(member.accessToken, { name: 'none', roleIds: [] }, 403);

    const { key } = (await createKey(manager.accessToken, { name: 'own', roleIds: [keyManager] })).body as CreatedKey;
    await from(a).get('/v1/permissions', key).expect(200);
    const client = from(a);
    const byKey = await request(a.url)
      .post('/v1/api-keys')
      .set('x-forwarded-for', freshAddress())
      .auth(key, { type: 'bearer' })
      .send({ name: 'child', roleIds: [keyManager] });
    expect(byKey.status).toBe(401);
    await client.get('/v1/api-keys', key).expect(401);
  });

  it('holds no more than its creator does now: fewer permissions when they lose some, nothing when disabled', async () => {
    const readers = await createRole(['api-keys:manage', 'roles:read']);
    const creator = await createUser(a.url, acme.accessToken, acme.slug, [readers]);
    const { key } = (await createKey(creator.accessToken, { name: 'bound', roleIds: [readers] })).body as CreatedKey;
    await from(a).get('/v1/permissions', key).expect(200);

    const managersOnly = await createRole(['api-keys:manage']);
    await request(a.url)
      .patch(`/v1/users/${creator.id}`)
      .auth(acme.accessToken, { type: 'bearer' })
      .send({ roleIds: [managersOnly] })
      .expect(200);
    const reduced = await from(a).get('/v1/permissions', key).expect(403);
    expect(reduced.body.detail).toContain('roles:read');

    await request(a.url)
      .patch(`/v1/users/${creator.id}`)
      .auth(acme.accessToken, { type: 'bearer' })
      .send({ roleIds: [readers], disabled: true })
      .expect(200);
    await from(a).get('/v1/permissions', key).expect(401);
    // An enable does not bring back keys created before the disable.
    await request(a.url)
      .patch(`/v1/users/${creator.id}`)
      .auth(acme.accessToken, { type: 'bearer' })
      .send({ disabled: false })
      .expect(200);
    await from(a).get('/v1/permissions', key).expect(401);
    const stored = await a.app
      .get(DynamoClients)
      .doc.send(new GetCommand({ TableName: acme.tableName, Key: TenantKeys.user(creator.id) }));
    expect(stored.Item?.disabled).toBe(false);
  });
});
