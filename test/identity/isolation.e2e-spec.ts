import { ScanCommand } from '@aws-sdk/lib-dynamodb';
import { DynamoClients } from '@lib/dynamo';
import request from 'supertest';
import { JWT_SECRET, startApp, type TestApp } from '../support/harness';
import { createTenantWithAdmin, createUser, rolesByName, type TenantSession } from '../support/tenants';
import { decodeToken, forgeToken, loginOperator } from '../support/tokens';

type Method = 'get' | 'post' | 'patch' | 'delete';
interface Call {
  method: Method;
  path: string;
  body?: Record<string, unknown>;
}

interface Fixture {
  session: TenantSession;
  roles: Record<string, string>;
  adminId: string;
  member: Awaited<ReturnType<typeof createUser>>;
  viewer: Awaited<ReturnType<typeof createUser>>;
  customRoleId: string;
}

/** Every /v1/users and /v1/roles route (and GET /v1/permissions), aimed at `target`'s ids. */
function everyRoute(target: { userId: string; roleId: string; grantRoleId: string; email: string }): Call[] {
  return [
    { method: 'get', path: '/v1/users' },
    {
      method: 'post',
      path: '/v1/users',
      body: { email: target.email, name: 'Intruder', password: 'a-fine-long-password', roleIds: [target.grantRoleId] },
    },
    { method: 'get', path: `/v1/users/${target.userId}` },
    { method: 'patch', path: `/v1/users/${target.userId}`, body: { name: 'pwned', disabled: true } },
    { method: 'delete', path: `/v1/users/${target.userId}` },
    { method: 'get', path: '/v1/permissions' },
    { method: 'get', path: '/v1/roles' },
    { method: 'post', path: '/v1/roles', body: { name: 'intruders', permissions: ['chats:read'] } },
    { method: 'get', path: `/v1/roles/${target.roleId}` },
    { method: 'patch', path: `/v1/roles/${target.roleId}`, body: { name: 'pwned', permissions: ['users:write'] } },
    { method: 'delete', path: `/v1/roles/${target.roleId}` },
  ];
}

describe('tenant isolation and authorization of users and roles', () => {
  let t: TestApp;
  let operator: string;
  let a: Fixture;
  let b: Fixture;
  const api = () => request(t.url);

  const send = (token: string, call: Call) => {
    const req = api()[call.method](call.path).auth(token, { type: 'bearer' });
    return call.body ? req.send(call.body) : req;
  };

  /**
   * Every item of the tenant's table, sorted: a before/after snapshot of everything stored. The month's usage
   * item is left out: the capacity recorder adds the tenant's own reads to it (B's admin reading its data back).
   */
  const tableSnapshot = async (tenant: TenantSession) => {
    const items: Record<string, unknown>[] = [];
    let start: Record<string, unknown> | undefined;
    do {
      const page = await t.app
        .get(DynamoClients)
        .doc.send(new ScanCommand({ TableName: tenant.tableName, ExclusiveStartKey: start, ConsistentRead: true }));
      items.push(...(page.Items ?? []));
      start = page.LastEvaluatedKey;
    } while (start);
    return items
      .filter((i) => !String(i.pk).startsWith('USAGE#'))
      .sort((x, y) => `${x.pk}|${x.sk}`.localeCompare(`${y.pk}|${y.sk}`));
  };

  /** What the tenant's admin sees: every user (each one read singly too) and every role. */
  const apiSnapshot = async (tenant: TenantSession) => {
    const list = await api().get('/v1/users?limit=100').auth(tenant.accessToken, { type: 'bearer' }).expect(200);
    const users = [];
    for (const u of list.body.items as Array<{ id: string }>) {
      const one = await api().get(`/v1/users/${u.id}`).auth(tenant.accessToken, { type: 'bearer' }).expect(200);
      users.push({ body: one.body, etag: one.headers.etag });
    }
    const roles = await api().get('/v1/roles').auth(tenant.accessToken, { type: 'bearer' }).expect(200);
    return { list: list.body, users, roles: roles.body };
  };

  async function fixture(): Promise<Fixture> {
    const session = await createTenantWithAdmin(t.url, operator);
    const roles = await rolesByName(t.url, session.accessToken);
    const adminId = (await api().get('/v1/me').auth(session.accessToken, { type: 'bearer' }).expect(200)).body.id;
    const member = await createUser(t.url, session.accessToken, session.slug, [roles.member]);
    const viewer = await createUser(t.url, session.accessToken, session.slug, [roles.viewer]);
    const custom = await api()
      .post('/v1/roles')
      .auth(session.accessToken, { type: 'bearer' })
      .send({ name: 'support', permissions: ['chats:read', 'users:read'] })
      .expect(201);
    return { session, roles, adminId, member, viewer, customRoleId: custom.body.id };
  }

  beforeAll(async () => {
    t = await startApp({ LOGIN_MAX_FAILURES_PER_IP: '10000' });
    operator = (await loginOperator(t.url)).accessToken;
    a = await fixture();
    b = await fixture();
  });
  afterAll(() => t.close());

  it("A's admin gets 404 on every /v1/users/{id} route with B's user ids; B's users unchanged", async () => {
    const beforeApi = await apiSnapshot(b.session);
    const beforeTable = await tableSnapshot(b.session);
    for (const userId of [b.member.id, b.viewer.id, b.adminId]) {
      const calls: Call[] = [
        { method: 'get', path: `/v1/users/${userId}` },
        { method: 'patch', path: `/v1/users/${userId}`, body: { name: 'pwned' } },
        { method: 'patch', path: `/v1/users/${userId}`, body: { disabled: true } },
        { method: 'patch', path: `/v1/users/${userId}`, body: { roleIds: [a.roles.member] } },
        { method: 'patch', path: `/v1/users/${userId}`, body: { roleIds: [] } },
        { method: 'delete', path: `/v1/users/${userId}` },
      ];
      for (const call of calls) {
        const res = await send(a.session.accessToken, call);
        expect({ call, status: res.status }).toEqual({ call, status: 404 });
        expect(res.headers['content-type']).toContain('application/problem+json');
        expect(res.body.detail).toBe('user not found');
      }
      // With an If-Match that would match B's user: still 404, never 412.
      const res = await api()
        .patch(`/v1/users/${userId}`)
        .auth(a.session.accessToken, { type: 'bearer' })
        .set('if-match', '"1"')
        .send({ name: 'pwned' });
      expect(res.status).toBe(404);
    }
    // B's role ids are unknown to A: granting them is a 400 and creates nothing in either tenant.
    const email = `intruder-${Date.now()}@a.test`;
    const grant = await api()
      .post('/v1/users')
      .auth(a.session.accessToken, { type: 'bearer' })
      .send({ email, name: 'Intruder', password: 'a-fine-long-password', roleIds: [b.roles.owner] });
    expect(grant.status).toBe(400);
    expect(grant.body.errors).toEqual([{ field: 'roleIds', message: expect.stringContaining('unknown role') }]);
    await api()
      .patch(`/v1/users/${a.member.id}`)
      .auth(a.session.accessToken, { type: 'bearer' })
      .send({ roleIds: [b.roles.admin] })
      .expect(400);

    expect(await apiSnapshot(b.session)).toEqual(beforeApi);
    expect(await tableSnapshot(b.session)).toEqual(beforeTable);
    // B's users are still themselves: they sign in as before.
    await api()
      .post('/v1/auth/login')
      .send({ tenant: b.session.slug, email: b.member.email, password: b.member.password })
      .expect(200);
  });

  it("A's admin gets 404 on every /v1/roles/{id} route with B's role ids; B's roles unchanged", async () => {
    const beforeApi = await apiSnapshot(b.session);
    const beforeTable = await tableSnapshot(b.session);
    for (const roleId of [b.customRoleId, b.roles.owner, b.roles.member]) {
      const calls: Call[] = [
        { method: 'get', path: `/v1/roles/${roleId}` },
        { method: 'patch', path: `/v1/roles/${roleId}`, body: { description: 'pwned' } },
        { method: 'patch', path: `/v1/roles/${roleId}`, body: { name: 'pwned', permissions: ['tenant:write'] } },
        { method: 'delete', path: `/v1/roles/${roleId}` },
      ];
      for (const call of calls) {
        const res = await send(a.session.accessToken, call);
        expect({ call, status: res.status }).toEqual({ call, status: 404 });
        expect(res.body.detail).toBe('role not found');
      }
    }
    // A's role list shows only A's roles.
    const aRoles = await api().get('/v1/roles').auth(a.session.accessToken, { type: 'bearer' }).expect(200);
    const aRoleIds = (aRoles.body.items as Array<{ id: string }>).map((r) => r.id);
    expect(aRoleIds.sort()).toEqual([...Object.values(a.roles), a.customRoleId].sort());
    for (const id of Object.values(b.roles)) expect(aRoleIds).not.toContain(id);

    expect(await apiSnapshot(b.session)).toEqual(beforeApi);
    expect(await tableSnapshot(b.session)).toEqual(beforeTable);
  });

  it("A's user list never includes B's users, on any page (and the other way round)", async () => {
    for (const [me, other] of [
      [a, b],
      [b, a],
    ]) {
      const seen: Array<{ id: string; email: string }> = [];
      let cursor: string | null = null;
      do {
        const res: request.Response = await api()
          .get('/v1/users')
          .query(cursor ? { limit: 1, cursor } : { limit: 1 })
          .auth(me.session.accessToken, { type: 'bearer' })
          .expect(200);
        seen.push(...res.body.items);
        cursor = res.body.nextCursor;
      } while (cursor);
      expect(seen.map((u) => u.id).sort()).toEqual([me.adminId, me.member.id, me.viewer.id].sort());
      for (const id of [other.adminId, other.member.id, other.viewer.id])
        expect(seen.map((u) => u.id)).not.toContain(id);
      expect(seen.map((u) => u.email)).not.toContain(other.session.adminEmail);
    }
  });

  it.each(['member', 'viewer'] as const)(
    'a %s gets 403 on every users and roles route (and GET /v1/permissions); nothing changes',
    async (who) => {
      const caller = a[who];
      const beforeTable = await tableSnapshot(a.session);
      const calls = everyRoute({
        userId: a.member.id === caller.id ? a.viewer.id : a.member.id,
        roleId: a.customRoleId,
        grantRoleId: a.roles.member,
        email: `new-${who}@${a.session.slug}.test`,
      });
      // Their own user id too: no self-service through the admin routes.
      calls.push(
        { method: 'get', path: `/v1/users/${caller.id}` },
        { method: 'patch', path: `/v1/users/${caller.id}`, body: { roleIds: [a.roles.owner] } },
        { method: 'delete', path: `/v1/users/${caller.id}` },
      );
      for (const call of calls) {
        const res = await send(caller.accessToken, call);
        expect({ call, status: res.status }).toEqual({ call, status: 403 });
        expect(res.headers['content-type']).toContain('application/problem+json');
        expect(res.body.detail).toMatch(/^missing permission (users|roles):(read|write)$/);
      }
      expect(await tableSnapshot(a.session)).toEqual(beforeTable);
      // They are still who they were.
      const me = await api().get('/v1/me').auth(caller.accessToken, { type: 'bearer' }).expect(200);
      expect(me.body.roles).toEqual([{ id: a.roles[who], name: who }]);
    },
  );

  it('an operator token on every tenant users/roles route (and /v1/me) → 403; nothing changes', async () => {
    const beforeTable = await tableSnapshot(a.session);
    const calls = everyRoute({
      userId: a.member.id,
      roleId: a.customRoleId,
      grantRoleId: a.roles.owner,
      email: `op@${a.session.slug}.test`,
    });
    calls.push({ method: 'get', path: '/v1/me' });
    for (const call of calls) {
      const res = await send(operator, call);
      expect({ call, status: res.status }).toEqual({ call, status: 403 });
      expect(res.body.detail).toBe('a platform token cannot be used on this route');
    }
    expect(await tableSnapshot(a.session)).toEqual(beforeTable);
  });

  it("a correctly signed token with B's tid and A's user as sub → 401 (the user is not B's)", async () => {
    const { header, payload } = decodeToken(a.session.accessToken);
    const sign = (p: Record<string, unknown>) => forgeToken(header, p, { hmacKey: JWT_SECRET });
    // The forger is right: A's claims re-signed are accepted.
    await api().get('/v1/users').auth(sign(payload), { type: 'bearer' }).expect(200);

    const forged = sign({ ...payload, tid: b.session.tenantId });
    for (const call of everyRoute({
      userId: b.member.id,
      roleId: b.customRoleId,
      grantRoleId: b.roles.owner,
      email: `forged@${b.session.slug}.test`,
    }).concat({ method: 'get', path: '/v1/me' })) {
      const res = await send(forged, call);
      expect({ call, status: res.status }).toEqual({ call, status: 401 });
    }
    // And the other way round: B's admin presented as a user of A.
    const fromB = decodeToken(b.session.accessToken);
    const reverse = forgeToken(fromB.header, { ...fromB.payload, tid: a.session.tenantId }, { hmacKey: JWT_SECRET });
    await api().get('/v1/users').auth(reverse, { type: 'bearer' }).expect(401);
    // B's admin still works as B's.
    await api().get('/v1/users').auth(b.session.accessToken, { type: 'bearer' }).expect(200);
  });

  it('concurrent requests from A and B only ever see their own users', async () => {
    const own = {
      A: [a.adminId, a.member.id, a.viewer.id].sort(),
      B: [b.adminId, b.member.id, b.viewer.id].sort(),
    };
    for (let round = 0; round < 3; round++) {
      const results = await Promise.all(
        Array.from({ length: 10 }, async (_, i) => {
          const who = i % 2 === 0 ? 'A' : 'B';
          const token = who === 'A' ? a.session.accessToken : b.session.accessToken;
          const res = await api().get('/v1/users').query({ limit: 100 }).auth(token, { type: 'bearer' });
          return { who, status: res.status, ids: (res.body.items as Array<{ id: string }>).map((u) => u.id).sort() };
        }),
      );
      for (const r of results) {
        expect(r.status).toBe(200);
        expect(r.ids).toEqual(own[r.who as 'A' | 'B']);
      }
    }
  });
});
