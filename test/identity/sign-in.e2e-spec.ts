import request from 'supertest';
import { startApp, type TestApp } from '../support/harness';
import { createTenantWithAdmin, createUser, rolesByName, type TenantSession } from '../support/tenants';
import { decodeToken, loginOperator } from '../support/tokens';

describe('tenant sign-in, refresh, logout and /v1/me', () => {
  let t: TestApp;
  let operator: string;
  let acme: TenantSession;
  const api = () => request(t.url);

  beforeAll(async () => {
    t = await startApp({ LOGIN_MAX_FAILURES_PER_ACCOUNT: '3', LOGIN_MAX_FAILURES_PER_IP: '1000' });
    operator = (await loginOperator(t.url)).accessToken;
    acme = await createTenantWithAdmin(t.url, operator);
  });
  afterAll(() => t.close());

  it('issues tenant tokens with the documented claims', () => {
    const { header, payload } = decodeToken(acme.accessToken);
    expect(header).toMatchObject({ typ: 'at+jwt', alg: 'HS256' });
    expect(payload).toMatchObject({ scope: 'tenant', tid: acme.tenantId, iss: 'chat-platform', aud: 'chat-platform' });
    expect(acme.refreshToken.split('.')).toHaveLength(4);
  });

  it('GET /v1/me shows the user, roles, permissions and tenant', async () => {
    const res = await api().get('/v1/me').auth(acme.accessToken, { type: 'bearer' }).expect(200);
    expect(res.body).toEqual({
      id: expect.stringMatching(/^[0-9A-Z]{26}$/),
      email: acme.adminEmail,
      name: 'First Admin',
      roles: [{ id: expect.any(String), name: 'owner' }],
      permissions: expect.arrayContaining(['users:write', 'tenant:write', 'chats:read:any']),
      tenant: { id: acme.tenantId, slug: acme.slug, name: `Tenant ${acme.slug}` },
    });
    expect(res.body.permissions).toHaveLength(12);
  });

  it('unknown tenant, unknown email, wrong password and disabled user give the same 401', async () => {
    const roles = await rolesByName(t.url, acme.accessToken);
    const member = await createUser(t.url, acme.accessToken, acme.slug, [roles.member]);
    await api()
      .patch(`/v1/users/${member.id}`)
      .auth(acme.accessToken, { type: 'bearer' })
      .send({ disabled: true })
      .expect(200);
    const attempts = [
      { tenant: 'no-such-tenant', email: acme.adminEmail, password: acme.adminPassword },
      { tenant: acme.slug, email: 'nobody@nowhere.test', password: acme.adminPassword },
      { tenant: acme.slug, email: `x${acme.adminEmail}`, password: 'wrong-password-1' },
      { tenant: acme.slug, email: member.email, password: member.password },
    ];
    const bodies = [];
    for (const body of attempts) {
      const res = await api().post('/v1/auth/login').send(body).expect(401);
      bodies.push({ ...res.body, requestId: undefined });
    }
    expect(new Set(bodies.map((b) => JSON.stringify(b))).size).toBe(1);
  });

  it('locks an account after repeated failures (429 with Retry-After), across the whole window', async () => {
    const roles = await rolesByName(t.url, acme.accessToken);
    const victim = await createUser(t.url, acme.accessToken, acme.slug, [roles.viewer]);
    for (let i = 0; i < 3; i++) {
      await api()
        .post('/v1/auth/login')
        .send({ tenant: acme.slug, email: victim.email, password: 'wrong-password-x' })
        .expect(401);
    }
    const blocked = await api()
      .post('/v1/auth/login')
      .send({ tenant: acme.slug, email: victim.email, password: victim.password })
      .expect(429);
    expect(Number(blocked.headers['retry-after'])).toBeGreaterThan(0);
    expect(blocked.headers['content-type']).toContain('application/problem+json');
    // Another account is not affected.
    await api()
      .post('/v1/auth/login')
      .send({ tenant: acme.slug, email: acme.adminEmail, password: acme.adminPassword })
      .expect(200);
  });

  it('refresh rotates; reusing a rotated token revokes the session', async () => {
    const login = await api()
      .post('/v1/auth/login')
      .send({ tenant: acme.slug, email: acme.adminEmail, password: acme.adminPassword })
      .expect(200);
    const first = login.body.refreshToken as string;
    const second = (await api().post('/v1/auth/refresh').send({ refreshToken: first }).expect(200)).body;
    await api().get('/v1/me').auth(second.accessToken, { type: 'bearer' }).expect(200);
    const third = (await api().post('/v1/auth/refresh').send({ refreshToken: second.refreshToken }).expect(200)).body;
    // `first` is no longer the token just rotated out (no REFRESH_REUSE_GRACE for it): reuse.
    await api().post('/v1/auth/refresh').send({ refreshToken: first }).expect(401);
    await api().post('/v1/auth/refresh').send({ refreshToken: third.refreshToken }).expect(401);
  });

  it('logout revokes the session of the access token (its refresh token stops working)', async () => {
    const login = await api()
      .post('/v1/auth/login')
      .send({ tenant: acme.slug, email: acme.adminEmail, password: acme.adminPassword })
      .expect(200);
    await api().post('/v1/auth/logout').auth(login.body.accessToken, { type: 'bearer' }).send({}).expect(204);
    await api().post('/v1/auth/refresh').send({ refreshToken: login.body.refreshToken }).expect(401);
  });

  it('disabling a user kills their refresh token and access token at once on this instance', async () => {
    const roles = await rolesByName(t.url, acme.accessToken);
    const member = await createUser(t.url, acme.accessToken, acme.slug, [roles.member]);
    await api().get('/v1/me').auth(member.accessToken, { type: 'bearer' }).expect(200);
    await new Promise((r) => setTimeout(r, 1100)); // tokens carry whole seconds
    await api()
      .patch(`/v1/users/${member.id}`)
      .auth(acme.accessToken, { type: 'bearer' })
      .send({ disabled: true })
      .expect(200);
    await api().get('/v1/me').auth(member.accessToken, { type: 'bearer' }).expect(401);
    await api().post('/v1/auth/refresh').send({ refreshToken: member.refreshToken }).expect(401);
    // Re-enabled: old tokens stay dead, a new login works.
    await api()
      .patch(`/v1/users/${member.id}`)
      .auth(acme.accessToken, { type: 'bearer' })
      .send({ disabled: false })
      .expect(200);
    await api().get('/v1/me').auth(member.accessToken, { type: 'bearer' }).expect(401);
    await new Promise((r) => setTimeout(r, 1100));
    const again = await api()
      .post('/v1/auth/login')
      .send({ tenant: acme.slug, email: member.email, password: member.password })
      .expect(200);
    await api().get('/v1/me').auth(again.body.accessToken, { type: 'bearer' }).expect(200);
  });

  it('a suspended tenant: 403 on tenant routes and on login; resumed: works again', async () => {
    const other = await createTenantWithAdmin(t.url, operator);
    await api()
      .patch(`/v1/tenants/${other.tenantId}`)
      .auth(operator, { type: 'bearer' })
      .send({ status: 'suspended' })
      .expect(200);
    const me = await api().get('/v1/me').auth(other.accessToken, { type: 'bearer' }).expect(403);
    expect(me.body.detail).toBe('tenant suspended');
    await api()
      .post('/v1/auth/login')
      .send({ tenant: other.slug, email: other.adminEmail, password: other.adminPassword })
      .expect(403);
    await api().post('/v1/auth/refresh').send({ refreshToken: other.refreshToken }).expect(403);
    await api()
      .patch(`/v1/tenants/${other.tenantId}`)
      .auth(operator, { type: 'bearer' })
      .send({ status: 'active' })
      .expect(200);
    await api().get('/v1/me').auth(other.accessToken, { type: 'bearer' }).expect(200);
  });

  it('a deleted tenant: its tokens → 401', async () => {
    const gone = await createTenantWithAdmin(t.url, operator);
    await api().delete(`/v1/tenants/${gone.tenantId}`).auth(operator, { type: 'bearer' }).expect(202);
    await api().get('/v1/me').auth(gone.accessToken, { type: 'bearer' }).expect(401);
    await api().post('/v1/auth/refresh').send({ refreshToken: gone.refreshToken }).expect(401);
  });

  it('an operator token is refused on tenant routes (403)', async () => {
    await api().get('/v1/me').auth(operator, { type: 'bearer' }).expect(403);
    await api().get('/v1/users').auth(operator, { type: 'bearer' }).expect(403);
    await api().get('/v1/roles').auth(operator, { type: 'bearer' }).expect(403);
  });

  it("a tenant admin's real token is refused on every operator route (403), changing nothing", async () => {
    const routes: Array<[string, string, object?]> = [
      ['get', '/v1/platform/me'],
      [
        'post',
        '/v1/tenants',
        {
          name: 'X',
          slug: 'tenant-admin-try',
          admin: { email: 'a@b.test', name: 'A', password: 'a-very-good-password' },
        },
      ],
      ['get', '/v1/tenants'],
      ['get', `/v1/tenants/${acme.tenantId}`],
      ['patch', `/v1/tenants/${acme.tenantId}`, { status: 'suspended' }],
      ['delete', `/v1/tenants/${acme.tenantId}`],
      ['get', `/v1/tenants/${acme.tenantId}/usage?month=2026-11`],
    ];
    for (const [method, path, body] of routes) {
      const call = (api() as unknown as Record<string, (p: string) => request.Test>)
        [method](path)
        .auth(acme.accessToken, { type: 'bearer' });
      const res = await (body ? call.send(body) : call);
      expect([method, path, res.status]).toEqual([method, path, 403]);
    }
    const after = await api().get(`/v1/tenants/${acme.tenantId}`).auth(operator, { type: 'bearer' }).expect(200);
    expect(after.body.status).toBe('active');
    await api().get('/v1/tenants').query({ status: 'active' }).auth(operator, { type: 'bearer' }).expect(200);
  });

  it('passwords: longer than 256 → 400 before hashing; never returned', async () => {
    await api()
      .post('/v1/auth/login')
      .send({ tenant: acme.slug, email: acme.adminEmail, password: 'x'.repeat(257) })
      .expect(400);
    const res = await api()
      .post('/v1/users')
      .auth(acme.accessToken, { type: 'bearer' })
      .send({ email: `long@${acme.slug}.test`, name: 'L', password: 'x'.repeat(257), roleIds: [] })
      .expect(400);
    expect(res.body.errors.map((e: { field: string }) => e.field)).toContain('password');
    const short = await api()
      .post('/v1/users')
      .auth(acme.accessToken, { type: 'bearer' })
      .send({ email: `short@${acme.slug}.test`, name: 'S', password: 'x'.repeat(11), roleIds: [] })
      .expect(400);
    expect(JSON.stringify(short.body)).not.toContain('xxxxxxxxxxx');
  });
});
