import { isDeepStrictEqual } from 'node:util';
import request from 'supertest';
import { startApp, type TestApp } from '../support/harness';
import { createTenantWithAdmin, createUser, rolesByName, tenantBody, type TenantSession } from '../support/tenants';
import { loginOperator } from '../support/tokens';

const NUL = '\u0000';
const ESC = '\u001b';

interface Case {
  /** The field as the problem names it. */
  field: string;
  method: 'post' | 'patch';
  path: () => string;
  token: () => string | undefined;
  /** A valid body, with `value` in the field. */
  body: (value: string) => Record<string, unknown>;
  /** A fine value for the field, into which the control character is put. */
  sample: string;
  /** What a GET shows of the data the request would change; equal before and after a refused request. */
  state: () => Promise<unknown>;
}

/**
 * One rule for every text field of every request body, as message content has: control characters are refused
 * with a 400 naming the field (tab, newline and CR are allowed in multi-line fields only), and nothing is stored.
 */
describe('control characters in text fields', () => {
  let t: TestApp;
  let operator: string;
  let acme: TenantSession;
  let member: { id: string; accessToken: string; refreshToken: string };
  let chatId: string;
  let roleId: string;
  const api = () => request(t.url);
  const get = async (path: string, token: string) =>
    (await api().get(path).auth(token, { type: 'bearer' }).expect(200)).body as unknown;

  beforeAll(async () => {
    t = await startApp({ LOGIN_MAX_FAILURES_PER_IP: '10000' });
    operator = (await loginOperator(t.url)).accessToken;
    acme = await createTenantWithAdmin(t.url, operator);
    const roles = await rolesByName(t.url, acme.accessToken);
    member = await createUser(t.url, acme.accessToken, acme.slug, [roles.member]);
    chatId = (
      await api().post('/v1/chats').auth(member.accessToken, { type: 'bearer' }).send({ title: 'chat' }).expect(201)
    ).body.id;
    roleId = (
      await api()
        .post('/v1/roles')
        .auth(acme.accessToken, { type: 'bearer' })
        .send({ name: `readers-${process.pid}`, permissions: ['users:read'] })
        .expect(201)
    ).body.id;
  });
  afterAll(() => t.close());

  const chats = () => get('/v1/chats?limit=100', member.accessToken);
  const users = () => get('/v1/users?limit=100', acme.accessToken);
  const roleList = () => get('/v1/roles', acme.accessToken);
  const tenants = () => get('/v1/tenants?limit=100', operator);
  const sessions = async () => get('/v1/me', member.accessToken);
  const newUser = (value: Record<string, string>) => ({
    email: `new@${acme.slug}.test`,
    name: 'New',
    password: 'a-long-enough-password',
    roleIds: [],
    ...value,
  });

  const cases = (): Case[] => [
    ...(['title', 'systemPrompt', 'model'] as const).map(
      (field): Case => ({
        field,
        method: 'post',
        path: () => '/v1/chats',
        token: () => member.accessToken,
        body: (v) => ({ [field]: v }),
        sample: 'text',
        state: chats,
      }),
    ),
    ...(['title', 'systemPrompt'] as const).map(
      (field): Case => ({
        field,
        method: 'patch',
        path: () => `/v1/chats/${chatId}`,
        token: () => member.accessToken,
        body: (v) => ({ [field]: v }),
        sample: 'text',
        state: chats,
      }),
    ),
    {
      field: 'content',
      method: 'post',
      path: () => `/v1/chats/${chatId}/messages`,
      token: () => member.accessToken,
      body: (v) => ({ content: v }),
      sample: 'hello',
      state: () => get(`/v1/chats/${chatId}/messages`, member.accessToken),
    },
    ...(['email', 'name', 'password'] as const).map(
      (field): Case => ({
        field,
        method: 'post',
        path: () => '/v1/users',
        token: () => acme.accessToken,
        body: (v) => newUser({ [field]: v }),
        sample: field === 'email' ? `"a"@${acme.slug}.test` : field === 'name' ? 'Ada' : 'a-long-enough-password',
        state: users,
      }),
    ),
    {
      field: 'name',
      method: 'patch',
      path: () => `/v1/users/${member.id}`,
      token: () => acme.accessToken,
      body: (v) => ({ name: v }),
      sample: 'Ada',
      state: users,
    },
    ...(['name', 'description'] as const).flatMap((field): Case[] => [
      {
        field,
        method: 'post',
        path: () => '/v1/roles',
        token: () => acme.accessToken,
        body: (v) => ({ name: 'fresh-role', permissions: [], [field]: v }),
        sample: field === 'name' ? 'fresh-role' : 'text',
        state: roleList,
      },
      {
        field,
        method: 'patch',
        path: () => `/v1/roles/${roleId}`,
        token: () => acme.accessToken,
        body: (v) => ({ [field]: v }),
        sample: field === 'name' ? 'fresh-role' : 'text',
        state: roleList,
      },
    ]),
    {
      field: 'name',
      method: 'post',
      path: () => '/v1/tenants',
      token: () => operator,
      body: (v) => tenantBody('ctl-tenant', { name: v }),
      sample: 'Tenant',
      state: tenants,
    },
    ...(['email', 'name', 'password'] as const).map(
      (field): Case => ({
        field: `admin.${field}`,
        method: 'post',
        path: () => '/v1/tenants',
        token: () => operator,
        body: (v) => {
          const body = tenantBody('ctl-tenant');
          return { ...body, admin: { ...body.admin, [field]: v } };
        },
        sample: field === 'email' ? '"a"@ctl.test' : field === 'name' ? 'Ada' : 'a-long-enough-password',
        state: tenants,
      }),
    ),
    {
      field: 'name',
      method: 'patch',
      path: () => `/v1/tenants/${acme.tenantId}`,
      token: () => operator,
      body: (v) => ({ name: v }),
      sample: 'Acme',
      state: () => get(`/v1/tenants/${acme.tenantId}`, operator),
    },
    ...(['model', 'apiKey', 'baseUrl'] as const).map(
      (field): Case => ({
        field: `settings.llm.${field}`,
        method: 'patch',
        path: () => `/v1/tenants/${acme.tenantId}`,
        token: () => operator,
        body: (v) => ({ settings: { llm: { [field]: v } } }),
        sample: field === 'baseUrl' ? 'http://llm.test/v1' : 'text',
        state: () => get(`/v1/tenants/${acme.tenantId}`, operator),
      }),
    ),
    ...(['email', 'password'] as const).map(
      (field): Case => ({
        field,
        method: 'post',
        path: () => '/v1/auth/login',
        token: () => undefined,
        body: (v) => ({ tenant: acme.slug, email: acme.adminEmail, password: acme.adminPassword, [field]: v }),
        sample: field === 'email' ? `"admin"@${acme.slug}.test` : acme.adminPassword,
        state: async () => null,
      }),
    ),
    ...(['/v1/auth/refresh', '/v1/platform/auth/refresh'] as const).map(
      (path): Case => ({
        field: 'refreshToken',
        method: 'post',
        path: () => path,
        token: () => undefined,
        body: (v) => ({ refreshToken: v }),
        sample: 'not-a-token',
        state: async () => null,
      }),
    ),
    {
      field: 'refreshToken',
      method: 'post',
      path: () => '/v1/auth/logout',
      token: () => member.accessToken,
      body: (v) => ({ refreshToken: v }),
      sample: 'not-a-token',
      state: sessions,
    },
    ...(['email', 'password'] as const).map(
      (field): Case => ({
        field,
        method: 'post',
        path: () => '/v1/platform/auth/login',
        token: () => undefined,
        body: (v) => ({ email: 'root@operators.test', password: 'x', [field]: v }),
        sample: field === 'email' ? '"root"@operators.test' : 'a-password',
        state: async () => null,
      }),
    ),
  ];

  const send = (c: Case, value: string) => {
    const req = api()[c.method](c.path());
    const token = c.token();
    if (token) void req.auth(token, { type: 'bearer' });
    return req.send(c.body(value));
  };

  it('a NUL or an ESC in any text field → 400 naming the field; nothing stored', async () => {
    const outcomes: string[] = [];
    for (const c of cases()) {
      for (const [name, ch] of [
        ['NUL', NUL],
        ['ESC', ESC],
      ]) {
        const before = await c.state();
        const value = c.sample.slice(0, 2) + ch + c.sample.slice(2);
        const res = await send(c, value);
        const named = (res.body.errors ?? []).some(
          (e: { field: string; message: string }) => e.field === c.field && /control characters/.test(e.message),
        );
        const changed = !isDeepStrictEqual(await c.state(), before);
        if (res.status !== 400 || !named || changed)
          outcomes.push(
            `${c.method} ${c.path()} ${c.field} ${name}: ${res.status}${changed ? ' STORED' : ''} ${JSON.stringify(res.body.errors ?? res.body.detail ?? '')}`,
          );
      }
    }
    expect(outcomes).toEqual([]);
  });

  it('single-line fields refuse newlines and tabs; multi-line fields keep tab, newline and CR', async () => {
    const refused = await api()
      .post('/v1/chats')
      .auth(member.accessToken, { type: 'bearer' })
      .send({ title: 'two\nlines' })
      .expect(400);
    expect(refused.body.errors).toEqual([{ field: 'title', message: expect.stringMatching(/control characters/) }]);
    await api()
      .patch(`/v1/users/${member.id}`)
      .auth(acme.accessToken, { type: 'bearer' })
      .send({ name: 'tab\there' })
      .expect(400);

    const prompt = 'Line one.\r\n\tLine two.\nLine three.';
    const chat = await api()
      .post('/v1/chats')
      .auth(member.accessToken, { type: 'bearer' })
      .send({ title: 'Ünïcødé title ✓', systemPrompt: prompt })
      .expect(201);
    expect(chat.body).toMatchObject({ title: 'Ünïcødé title ✓', systemPrompt: prompt });
    await api()
      .patch(`/v1/roles/${roleId}`)
      .auth(acme.accessToken, { type: 'bearer' })
      .send({ description: 'Reads users.\n\tNothing else.' })
      .expect(200);
  });

  it('a JSON body of null is refused (400), not taken for {}: POST /v1/chats and PATCH /v1/chats/{id}', async () => {
    const before = await chats();
    const created = await api()
      .post('/v1/chats')
      .auth(member.accessToken, { type: 'bearer' })
      .set('content-type', 'application/json')
      .send('null');
    expect(created.status).toBe(400);
    expect(created.headers['content-type']).toContain('application/problem+json');
    const patched = await api()
      .patch(`/v1/chats/${chatId}`)
      .auth(member.accessToken, { type: 'bearer' })
      .set('content-type', 'application/json')
      .send('null');
    expect(patched.status).toBe(400);
    // No chat created, none changed (a PATCH of {} would have moved updatedAt and the version).
    expect(await chats()).toEqual(before);
  });
});
