import { GetCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import { DynamoClients } from '@lib/dynamo';
import request from 'supertest';
import { startApp, type TestApp } from '../support/harness';
import { createTenantWithAdmin, createUser, rolesByName, type TenantSession, uniqueSlug } from '../support/tenants';
import { loginOperator } from '../support/tokens';

const ULID = /^[0-9A-HJKMNP-TV-Z]{26}$/;
const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;
const PASSWORD = 'a-fine-long-password';

/** How many times each value occurs: { 201: 1, 409: 49 }. */
const tally = (values: number[]) =>
  values.reduce<Record<number, number>>((acc, v) => ({ ...acc, [v]: (acc[v] ?? 0) + 1 }), {});

interface User {
  id: string;
  email: string;
  name: string;
  roleIds: string[];
  disabled: boolean;
  createdAt: string;
  updatedAt: string;
}

describe('users: create, list, read, change and delete', () => {
  let t: TestApp;
  let operator: string;
  let acme: TenantSession;
  let roles: Record<string, string>;
  const api = () => request(t.url);

  /** A stored item of a tenant table, read directly (what the API wrote, not what it says it wrote). */
  const stored = async (tableName: string, pk: string, sk: string) =>
    (await t.app.get(DynamoClients).doc.send(new GetCommand({ TableName: tableName, Key: { pk, sk } }))).Item;
  /** Every item of one partition (the user and their sessions live in `USER#<id>`). */
  const partition = async (tableName: string, pk: string) =>
    (
      await t.app.get(DynamoClients).doc.send(
        new QueryCommand({
          TableName: tableName,
          KeyConditionExpression: 'pk = :pk',
          ExpressionAttributeValues: { ':pk': pk },
        }),
      )
    ).Items ?? [];

  const emailFor = (tenant: TenantSession, base = 'user') => `${uniqueSlug(base)}@${tenant.slug}.test`;
  const post = (token: string, body: Record<string, unknown>) =>
    api().post('/v1/users').auth(token, { type: 'bearer' }).send(body);
  const patch = (token: string, id: string, body: Record<string, unknown>, ifMatch?: string) => {
    const req = api().patch(`/v1/users/${id}`).auth(token, { type: 'bearer' });
    if (ifMatch !== undefined) req.set('if-match', ifMatch);
    return req.send(body);
  };
  const login = (tenant: TenantSession, email: string, password = PASSWORD) =>
    api().post('/v1/auth/login').send({ tenant: tenant.slug, email, password });

  /** Creates a user through the API (no login) and returns it. */
  async function newUser(tenant: TenantSession, roleIds: string[], email = emailFor(tenant)): Promise<User> {
    const res = await post(tenant.accessToken, { email, name: 'Someone', password: PASSWORD, roleIds });
    expect(res.status).toBe(201);
    return res.body as User;
  }

  /** Every user of the tenant, walking the pages with `limit`. */
  async function allUsers(token: string, limit: number): Promise<{ users: User[]; pages: number }> {
    const users: User[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const res = await api()
        .get('/v1/users')
        .query(cursor ? { limit, cursor } : { limit })
        .auth(token, { type: 'bearer' })
        .expect(200);
      expect(res.body.items.length).toBeLessThanOrEqual(limit);
      users.push(...(res.body.items as User[]));
      cursor = res.body.nextCursor as string | null;
      pages += 1;
      expect(pages).toBeLessThan(100);
    } while (cursor);
    return { users, pages };
  }

  beforeAll(async () => {
    // DynamoDB Local runs transactions one at a time: 50 racing ones can take seconds on a busy machine, and the
    // test's default 2 s DynamoDB timeout would turn the slowest into 503s. The races are about winners, not speed.
    t = await startApp({ LOGIN_MAX_FAILURES_PER_IP: '10000', DYNAMODB_TIMEOUT_MS: '15000' });
    operator = (await loginOperator(t.url)).accessToken;
    acme = await createTenantWithAdmin(t.url, operator);
    roles = await rolesByName(t.url, acme.accessToken);
  });
  afterAll(() => t.close());

  it('POST creates a user: 201 with the public fields only; stored with an argon2 hash and an email marker', async () => {
    const email = `Ada.Lovelace-${Date.now()}@${acme.slug}.TEST`;
    const res = await post(acme.accessToken, { email, name: '  Ada  ', password: PASSWORD, roleIds: [roles.member] });
    expect(res.status).toBe(201);
    expect(res.headers.etag).toBe('"1"');
    expect(res.body).toEqual({
      id: expect.stringMatching(ULID),
      email: email.toLowerCase(),
      name: 'Ada',
      roleIds: [roles.member],
      disabled: false,
      createdAt: expect.stringMatching(ISO),
      updatedAt: expect.stringMatching(ISO),
    });
    expect(JSON.stringify(res.body)).not.toMatch(/passwordHash|argon2|password/i);

    const item = await stored(acme.tableName, `USER#${res.body.id}`, 'USER');
    expect(item).toMatchObject({
      id: res.body.id,
      email: email.toLowerCase(),
      name: 'Ada',
      roleIds: [roles.member],
      disabled: false,
      version: 1,
      gsi1pk: 'USERS',
    });
    expect(item?.passwordHash).toMatch(/^\$argon2id\$/);
    expect(item?.passwordHash).not.toContain(PASSWORD);
    expect(await stored(acme.tableName, `EMAIL#${email.toLowerCase()}`, 'EMAIL')).toMatchObject({
      ownerId: res.body.id,
    });
    // The user signs in with the address in any letter case.
    await login(acme, email.toUpperCase()).expect(200);
  });

  it('GET returns the user with its ETag; neither GET nor the list shows a password hash', async () => {
    const user = await newUser(acme, [roles.viewer]);
    const res = await api().get(`/v1/users/${user.id}`).auth(acme.accessToken, { type: 'bearer' }).expect(200);
    expect(res.headers.etag).toBe('"1"');
    expect(res.body).toEqual(user);
    const list = await api().get('/v1/users').query({ limit: 100 }).auth(acme.accessToken, { type: 'bearer' });
    expect(list.status).toBe(200);
    for (const listed of list.body.items as Array<Record<string, unknown>>) {
      expect(Object.keys(listed).sort()).toEqual(
        ['createdAt', 'disabled', 'email', 'id', 'name', 'roleIds', 'updatedAt'].sort(),
      );
    }
    expect(JSON.stringify(list.body)).not.toMatch(/passwordHash|argon2/i);
    await api()
      .get('/v1/users/01ARZ3NDEKTSV4RRFFQ69G5FAV')
      .auth(acme.accessToken, { type: 'bearer' })
      .expect(404)
      .expect('content-type', /application\/problem\+json/);
    await api().get('/v1/users/not-a-ulid').auth(acme.accessToken, { type: 'bearer' }).expect(400);
  });

  it('lists users in pages (limit, cursor): every user exactly once, then nextCursor null', async () => {
    const tenant = await createTenantWithAdmin(t.url, operator);
    const created = [];
    for (let i = 0; i < 7; i++) created.push(await newUser(tenant, []));
    const expected = [tenant.adminEmail, ...created.map((u) => u.email)].sort();

    const { users, pages } = await allUsers(tenant.accessToken, 3);
    expect(pages).toBeGreaterThanOrEqual(3);
    expect(users.map((u) => u.email).sort()).toEqual(expected);
    expect(new Set(users.map((u) => u.id)).size).toBe(users.length);

    // One big page holds them all, oldest first, with no next page.
    const single = await api().get('/v1/users').auth(tenant.accessToken, { type: 'bearer' }).expect(200);
    expect(single.body.nextCursor).toBeNull();
    expect((single.body.items as User[]).map((u) => u.email)).toEqual([
      tenant.adminEmail,
      ...created.map((u) => u.email),
    ]);

    for (const limit of ['0', '101', 'ten', '-1', '2.5']) {
      const bad = await api().get('/v1/users').query({ limit }).auth(tenant.accessToken, { type: 'bearer' });
      expect(bad.status).toBe(400);
      expect(bad.body.errors.map((e: { field: string }) => e.field)).toContain('limit');
    }
  });

  it('a cursor that was edited, or is presented by another tenant (or another admin) → 400', async () => {
    const tenant = await createTenantWithAdmin(t.url, operator);
    for (let i = 0; i < 3; i++) await newUser(tenant, []);
    const first = await api()
      .get('/v1/users')
      .query({ limit: 2 })
      .auth(tenant.accessToken, { type: 'bearer' })
      .expect(200);
    const cursor = first.body.nextCursor as string;
    expect(cursor).toEqual(expect.any(String));
    const page = (token: string, c: string) =>
      api().get('/v1/users').query({ limit: 2, cursor: c }).auth(token, { type: 'bearer' });

    // The genuine cursor works for the admin it was issued to, as often as asked.
    const second = await page(tenant.accessToken, cursor).expect(200);
    expect(second.body.items).toHaveLength(2);
    await page(tenant.accessToken, cursor).expect(200);

    const [payload, signature] = cursor.split('.');
    const key = JSON.parse(Buffer.from(payload, 'base64url').toString()) as Record<string, string>;
    const editedPayload = Buffer.from(JSON.stringify({ ...key, gsi1sk: '0000' })).toString('base64url');
    const flipped = signature.slice(0, -1) + (signature.endsWith('A') ? 'B' : 'A');
    const edited = [`${editedPayload}.${signature}`, `${payload}.${flipped}`, `${payload}.`, payload, `${cursor}.x`];
    for (const bad of edited) {
      const res = await page(tenant.accessToken, bad);
      expect(res.status).toBe(400);
      expect(res.headers['content-type']).toContain('application/problem+json');
      expect(res.body.errors).toEqual([{ field: 'cursor', message: 'invalid cursor' }]);
    }

    // Another tenant's admin, and another admin of the same tenant, cannot use it.
    await page(acme.accessToken, cursor).expect(400);
    const tenantRoles = await rolesByName(t.url, tenant.accessToken);
    const colleague = await createUser(t.url, tenant.accessToken, tenant.slug, [tenantRoles.admin]);
    await page(colleague.accessToken, cursor).expect(400);
  });

  it('PATCH changes name, roles and disabled; the ETag and stored version move on', async () => {
    const user = await newUser(acme, [roles.member]);
    const got = await api().get(`/v1/users/${user.id}`).auth(acme.accessToken, { type: 'bearer' }).expect(200);
    const res = await patch(
      acme.accessToken,
      user.id,
      { name: ' Grace ', roleIds: [roles.viewer, roles.member], disabled: true },
      got.headers.etag as string,
    ).expect(200);
    expect(res.headers.etag).toBe('"2"');
    expect(res.body).toEqual({
      ...user,
      name: 'Grace',
      roleIds: [roles.viewer, roles.member],
      disabled: true,
      updatedAt: expect.stringMatching(ISO),
    });
    expect(res.body.updatedAt >= user.updatedAt).toBe(true);

    const back = await api().get(`/v1/users/${user.id}`).auth(acme.accessToken, { type: 'bearer' }).expect(200);
    expect(back.body).toEqual(res.body);
    expect(back.headers.etag).toBe('"2"');
    const item = await stored(acme.tableName, `USER#${user.id}`, 'USER');
    expect(item).toMatchObject({ name: 'Grace', roleIds: [roles.viewer, roles.member], disabled: true, version: 2 });
    expect(item?.tokensValidAfter).toEqual(expect.any(Number));

    // Partial changes leave the other fields alone; re-enabling lets the user sign in again.
    const enabled = await patch(acme.accessToken, user.id, { disabled: false }).expect(200);
    expect(enabled.body).toMatchObject({ name: 'Grace', roleIds: [roles.viewer, roles.member], disabled: false });
    const renamed = await patch(acme.accessToken, user.id, { name: 'Grace H' }).expect(200);
    expect(renamed.body).toMatchObject({ name: 'Grace H', roleIds: [roles.viewer, roles.member], disabled: false });
    expect(renamed.headers.etag).toBe('"4"');
    await login(acme, user.email).expect(200);

    // Bad values name the field.
    const bad = await patch(acme.accessToken, user.id, { name: '', disabled: 'yes', roleIds: 'member' }).expect(400);
    expect(bad.body.errors.map((e: { field: string }) => e.field).sort()).toEqual(
      expect.arrayContaining(['disabled', 'name', 'roleIds']),
    );
    const unknownRole = await patch(acme.accessToken, user.id, { roleIds: ['01ARZ3NDEKTSV4RRFFQ69G5FAV'] }).expect(400);
    expect(unknownRole.body.errors).toEqual([{ field: 'roleIds', message: expect.stringContaining('unknown role') }]);
    expect(await stored(acme.tableName, `USER#${user.id}`, 'USER')).toMatchObject({ name: 'Grace H', version: 4 });
  });

  it('two PATCHes with the same If-Match: one 200, one 412; the loser changed nothing', async () => {
    const user = await newUser(acme, [roles.member]);
    const results = await Promise.all(
      ['first', 'second'].map((name) => patch(acme.accessToken, user.id, { name }, '"1"')),
    );
    expect(results.map((r) => r.status).sort()).toEqual([200, 412]);
    const winner = results.find((r) => r.status === 200)!;
    const loser = results.find((r) => r.status === 412)!;
    expect(loser.headers['content-type']).toContain('application/problem+json');
    expect(loser.body).toMatchObject({ status: 412, instance: `/v1/users/${user.id}` });

    const back = await api().get(`/v1/users/${user.id}`).auth(acme.accessToken, { type: 'bearer' }).expect(200);
    expect(back.body.name).toBe(winner.body.name);
    expect(back.headers.etag).toBe('"2"');
    expect(await stored(acme.tableName, `USER#${user.id}`, 'USER')).toMatchObject({
      name: winner.body.name,
      version: 2,
    });

    // A stale ETag stays stale; a weak ETag never matches (RFC 9110 strong comparison); `*` matches the current
    // version; a malformed one is a 400.
    await patch(acme.accessToken, user.id, { name: 'late' }, '"1"').expect(412);
    await patch(acme.accessToken, user.id, { name: 'weak' }, 'W/"2"').expect(412);
    await patch(acme.accessToken, user.id, { name: 'any' }, '*').expect(200);
    await patch(acme.accessToken, user.id, { name: 'bad' }, 'two').expect(400);
    expect(await stored(acme.tableName, `USER#${user.id}`, 'USER')).toMatchObject({ name: 'any', version: 3 });
  });

  it('PATCH without If-Match still applies, also when two arrive at once', async () => {
    const user = await newUser(acme, [roles.member]);
    await patch(acme.accessToken, user.id, { name: 'one' }, '"1"').expect(200);
    const res = await patch(acme.accessToken, user.id, { name: 'two' }).expect(200);
    expect(res.headers.etag).toBe('"3"');
    const both = await Promise.all([
      patch(acme.accessToken, user.id, { name: 'three' }),
      patch(acme.accessToken, user.id, { disabled: true }),
    ]);
    expect(both.map((r) => r.status)).toEqual([200, 200]);
    const back = await api().get(`/v1/users/${user.id}`).auth(acme.accessToken, { type: 'bearer' }).expect(200);
    expect(back.body).toMatchObject({ name: 'three', disabled: true });
    expect(back.headers.etag).toBe('"5"');
  });

  it('mass assignment: server-owned fields in POST or PATCH bodies → 400 naming the field; nothing stored', async () => {
    const forbidden: Record<string, unknown> = {
      version: 7,
      createdAt: '2000-01-01T00:00:00.000Z',
      updatedAt: '2000-01-01T00:00:00.000Z',
      tenantId: '01ARZ3NDEKTSV4RRFFQ69G5FAV',
      passwordHash: '$argon2id$v=19$m=19456,t=2,p=1$AAAA$BBBB',
      id: '01ARZ3NDEKTSV4RRFFQ69G5FAV',
      disabled: true,
      tokensValidAfter: 0,
    };
    for (const [field, value] of Object.entries(forbidden)) {
      const email = emailFor(acme, 'mass');
      const res = await post(acme.accessToken, { email, name: 'M', password: PASSWORD, roleIds: [], [field]: value });
      expect(res.status).toBe(400);
      expect(res.body.errors).toEqual([{ field, message: expect.stringContaining('should not exist') }]);
      expect(await stored(acme.tableName, `EMAIL#${email}`, 'EMAIL')).toBeUndefined();
    }

    const user = await newUser(acme, [roles.member]);
    const before = await stored(acme.tableName, `USER#${user.id}`, 'USER');
    const onPatch: Record<string, unknown> = {
      ...forbidden,
      email: `changed@${acme.slug}.test`,
      password: 'a-new-long-password',
    };
    delete onPatch.disabled;
    for (const [field, value] of Object.entries(onPatch)) {
      const res = await patch(acme.accessToken, user.id, { name: 'Changed', [field]: value });
      expect(res.status).toBe(400);
      expect(res.body.errors).toEqual([{ field, message: expect.stringContaining('should not exist') }]);
    }
    expect(await stored(acme.tableName, `USER#${user.id}`, 'USER')).toEqual(before);
    await login(acme, user.email).expect(200);
  });

  it('DELETE: 204, then 404 everywhere; the user cannot sign in; the email is free again', async () => {
    const user = await createUser(t.url, acme.accessToken, acme.slug, [roles.member]);
    await api().get('/v1/me').auth(user.accessToken, { type: 'bearer' }).expect(200);

    const del = await api().delete(`/v1/users/${user.id}`).auth(acme.accessToken, { type: 'bearer' });
    expect(del.status).toBe(204);
    expect(del.text).toBe('');

    await api().get(`/v1/users/${user.id}`).auth(acme.accessToken, { type: 'bearer' }).expect(404);
    await patch(acme.accessToken, user.id, { name: 'ghost' }).expect(404);
    await api().delete(`/v1/users/${user.id}`).auth(acme.accessToken, { type: 'bearer' }).expect(404);
    const list = await allUsers(acme.accessToken, 100);
    expect(list.users.map((u) => u.id)).not.toContain(user.id);
    expect(await partition(acme.tableName, `USER#${user.id}`)).toEqual([]);
    expect(await stored(acme.tableName, `EMAIL#${user.email}`, 'EMAIL')).toBeUndefined();

    await login(acme, user.email, user.password).expect(401);
    await api().get('/v1/me').auth(user.accessToken, { type: 'bearer' }).expect(401);

    // The address can be given to a new user, who is someone else.
    const again = await post(acme.accessToken, {
      email: user.email,
      name: 'New Owner Of The Address',
      password: 'yet-another-password',
      roleIds: [roles.viewer],
    }).expect(201);
    expect(again.body.id).not.toBe(user.id);
    await login(acme, user.email, user.password).expect(401);
    const fresh = await login(acme, user.email, 'yet-another-password').expect(200);
    const me = await api().get('/v1/me').auth(fresh.body.accessToken, { type: 'bearer' }).expect(200);
    expect(me.body).toMatchObject({ id: again.body.id, name: 'New Owner Of The Address' });
    // The deleted user's token does not become the new user's.
    await api().get('/v1/me').auth(user.accessToken, { type: 'bearer' }).expect(401);
  });

  it('deleting a user removes their sessions: every refresh token of theirs → 401', async () => {
    const user = await createUser(t.url, acme.accessToken, acme.slug, [roles.member]);
    const second = await login(acme, user.email, user.password).expect(200);
    const sessions = (await partition(acme.tableName, `USER#${user.id}`)).filter((i) =>
      String(i.sk).startsWith('SESSION#'),
    );
    expect(sessions).toHaveLength(2);

    await api().delete(`/v1/users/${user.id}`).auth(acme.accessToken, { type: 'bearer' }).expect(204);
    expect(await partition(acme.tableName, `USER#${user.id}`)).toEqual([]);
    await api().post('/v1/auth/refresh').send({ refreshToken: user.refreshToken }).expect(401);
    await api().post('/v1/auth/refresh').send({ refreshToken: second.body.refreshToken }).expect(401);
    await api().get('/v1/me').auth(second.body.accessToken, { type: 'bearer' }).expect(401);
  });

  it('the same email may exist in another tenant, as a separate user with its own password', async () => {
    const other = await createTenantWithAdmin(t.url, operator);
    const email = `shared-${Date.now()}@both.test`;
    const inAcme = await post(acme.accessToken, { email, name: 'In Acme', password: PASSWORD, roleIds: [] }).expect(
      201,
    );
    const inOther = await post(other.accessToken, {
      email,
      name: 'In Other',
      password: 'the-other-password',
      roleIds: [],
    }).expect(201);
    expect(inOther.body.id).not.toBe(inAcme.body.id);

    await login(acme, email).expect(200);
    await login(other, email, 'the-other-password').expect(200);
    await login(other, email, PASSWORD).expect(401);
    expect(await stored(acme.tableName, `EMAIL#${email}`, 'EMAIL')).toMatchObject({ ownerId: inAcme.body.id });
    expect(await stored(other.tableName, `EMAIL#${email}`, 'EMAIL')).toMatchObject({ ownerId: inOther.body.id });
    // Still unique within each tenant.
    await post(other.accessToken, { email: email.toUpperCase(), name: 'Dup', password: PASSWORD, roleIds: [] }).expect(
      409,
    );
  });

  it('50 concurrent creates of the same email: exactly one 201, 49 × 409, one user stored', async () => {
    const tenant = await createTenantWithAdmin(t.url, operator);
    const tenantRoles = await rolesByName(t.url, tenant.accessToken);
    const email = emailFor(tenant, 'race');
    const results = await Promise.all(
      Array.from({ length: 50 }, (_, i) =>
        post(tenant.accessToken, { email, name: `Racer ${i}`, password: PASSWORD, roleIds: [tenantRoles.member] }),
      ),
    );
    expect(tally(results.map((r) => r.status))).toEqual({ 201: 1, 409: 49 });
    const winner = results.find((r) => r.status === 201)!;
    for (const loser of results.filter((r) => r.status === 409)) {
      expect(loser.body.detail).toBe('a user with this email already exists in this tenant');
    }

    const { users } = await allUsers(tenant.accessToken, 100);
    expect(users.filter((u) => u.email === email)).toEqual([winner.body]);
    expect(users).toHaveLength(2);
    expect(await stored(tenant.tableName, `EMAIL#${email}`, 'EMAIL')).toMatchObject({ ownerId: winner.body.id });
    // The member role counts exactly one holder (the losers' counter changes were rolled back).
    expect(await stored(tenant.tableName, `ROLE#${tenantRoles.member}`, 'ROLE')).toMatchObject({
      assignedCount: 1,
      enabledCount: 1,
    });
  });

  it('the last enabled owner cannot be disabled, deleted or lose the owner role (409); nothing changes', async () => {
    const tenant = await createTenantWithAdmin(t.url, operator);
    const tenantRoles = await rolesByName(t.url, tenant.accessToken);
    const me = await api().get('/v1/me').auth(tenant.accessToken, { type: 'bearer' }).expect(200);
    const ownerId = me.body.id as string;
    const before = await stored(tenant.tableName, `USER#${ownerId}`, 'USER');

    const attempts = [
      patch(tenant.accessToken, ownerId, { disabled: true }),
      patch(tenant.accessToken, ownerId, { roleIds: [tenantRoles.admin] }),
      patch(tenant.accessToken, ownerId, { roleIds: [] }),
      api().delete(`/v1/users/${ownerId}`).auth(tenant.accessToken, { type: 'bearer' }),
    ];
    for (const attempt of attempts) {
      const res = await attempt;
      expect(res.status).toBe(409);
      expect(res.body.detail).toMatch(/last enabled owner/);
    }
    // A disabled holder of the owner role does not count.
    const dormant = await newUser(tenant, []);
    await patch(tenant.accessToken, dormant.id, { disabled: true }).expect(200);
    await patch(tenant.accessToken, dormant.id, { roleIds: [tenantRoles.owner] }).expect(200);
    await patch(tenant.accessToken, ownerId, { disabled: true }).expect(409);
    await api().delete(`/v1/users/${ownerId}`).auth(tenant.accessToken, { type: 'bearer' }).expect(409);

    expect(await stored(tenant.tableName, `USER#${ownerId}`, 'USER')).toEqual(before);
    await api().get('/v1/me').auth(tenant.accessToken, { type: 'bearer' }).expect(200);
    await login(tenant, tenant.adminEmail, tenant.adminPassword).expect(200);
  });

  it('with a second enabled owner, the first owner can be demoted, disabled or deleted, never the last', async () => {
    const tenant = await createTenantWithAdmin(t.url, operator);
    const tenantRoles = await rolesByName(t.url, tenant.accessToken);
    const first = (await api().get('/v1/me').auth(tenant.accessToken, { type: 'bearer' }).expect(200)).body
      .id as string;
    const second = await createUser(t.url, tenant.accessToken, tenant.slug, [tenantRoles.owner]);

    // Demote the first owner: allowed, the second is still an owner. Now the second is the last one.
    await patch(tenant.accessToken, first, { roleIds: [tenantRoles.admin] }).expect(200);
    await patch(second.accessToken, second.id, { disabled: true }).expect(409);
    await api().delete(`/v1/users/${second.id}`).auth(second.accessToken, { type: 'bearer' }).expect(409);

    // Restore, then disable and finally delete the first owner.
    await patch(second.accessToken, first, { roleIds: [tenantRoles.owner] }).expect(200);
    await patch(second.accessToken, first, { disabled: true }).expect(200);
    await api().delete(`/v1/users/${first}`).auth(second.accessToken, { type: 'bearer' }).expect(204);
    await patch(second.accessToken, second.id, { roleIds: [tenantRoles.admin] }).expect(409);

    // The stored counter the last-owner rule relies on counts the one enabled owner left.
    expect(await stored(tenant.tableName, `ROLE#${tenantRoles.owner}`, 'ROLE')).toMatchObject({
      assignedCount: 1,
      enabledCount: 1,
    });
  });

  it('an admin-role user cannot change, disable or delete an owner (403): they hold permissions the admin lacks', async () => {
    const tenant = await createTenantWithAdmin(t.url, operator);
    const tenantRoles = await rolesByName(t.url, tenant.accessToken);
    const ownerId = (await api().get('/v1/me').auth(tenant.accessToken, { type: 'bearer' }).expect(200)).body
      .id as string;
    await createUser(t.url, tenant.accessToken, tenant.slug, [tenantRoles.owner]);
    const deputy = await createUser(t.url, tenant.accessToken, tenant.slug, [tenantRoles.admin]);
    const before = await stored(tenant.tableName, `USER#${ownerId}`, 'USER');
    await patch(deputy.accessToken, ownerId, { disabled: true }).expect(403);
    await patch(deputy.accessToken, ownerId, { roleIds: [tenantRoles.member] }).expect(403);
    await patch(deputy.accessToken, ownerId, { name: 'Renamed' }).expect(403);
    await api().delete(`/v1/users/${ownerId}`).auth(deputy.accessToken, { type: 'bearer' }).expect(403);
    expect(await stored(tenant.tableName, `USER#${ownerId}`, 'USER')).toEqual(before);
    // An admin still manages members.
    const member = await createUser(t.url, tenant.accessToken, tenant.slug, [tenantRoles.member]);
    await patch(deputy.accessToken, member.id, { disabled: true }).expect(200);
  });

  it('escalation: an admin-role user (no tenant:write) cannot create or make an owner (403); nothing stored', async () => {
    const deputy = await createUser(t.url, acme.accessToken, acme.slug, [roles.admin]);
    const email = emailFor(acme, 'escalate');
    const res = await post(deputy.accessToken, { email, name: 'Boss', password: PASSWORD, roleIds: [roles.owner] });
    expect(res.status).toBe(403);
    expect(res.headers['content-type']).toContain('application/problem+json');
    expect(res.body.detail).toContain('tenant:write');
    expect(await stored(acme.tableName, `EMAIL#${email}`, 'EMAIL')).toBeUndefined();
    const { users } = await allUsers(acme.accessToken, 100);
    expect(users.map((u) => u.email)).not.toContain(email);

    // Nor by changing an existing user's (or their own) roles.
    const member = await newUser(acme, [roles.member]);
    await patch(deputy.accessToken, member.id, { roleIds: [roles.member, roles.owner] }).expect(403);
    await patch(deputy.accessToken, deputy.id, { roleIds: [roles.admin, roles.owner] }).expect(403);
    expect(await stored(acme.tableName, `USER#${member.id}`, 'USER')).toMatchObject({
      roleIds: [roles.member],
      version: 1,
    });
    expect(await stored(acme.tableName, `USER#${deputy.id}`, 'USER')).toMatchObject({ roleIds: [roles.admin] });

    // What the deputy holds, they may grant.
    await post(deputy.accessToken, { email, name: 'Peer', password: PASSWORD, roleIds: [roles.admin] }).expect(201);
  });
});
