import request from 'supertest';
import { startApp, type TestApp } from '../support/harness';
import { createTenantWithAdmin } from '../support/tenants';
import { loginOperator } from '../support/tokens';

const nestedArray = (depth: number) => '['.repeat(depth) + ']'.repeat(depth);
const nestedObject = (depth: number) => '{"a":'.repeat(depth) + '1' + '}'.repeat(depth);

/**
 * JSON nested thousands deep used to overflow the stack in the validation/transform step (500 and a stack trace
 * per request, without authentication). The body parser now refuses depth beyond a small limit before any
 * recursive processing.
 */
describe('deeply nested JSON bodies', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startApp();
  });
  afterAll(() => t.close());

  const post = (path: string, raw: string, token?: string) => {
    const req = request(t.url).post(path).set('content-type', 'application/json');
    if (token) void req.auth(token, { type: 'bearer' });
    return req.send(raw);
  };

  const expectDepthProblem = (res: request.Response) => {
    expect(res.status).toBe(400);
    expect(res.headers['content-type']).toContain('application/problem+json');
    expect(res.body).toMatchObject({ status: 400, requestId: res.headers['x-request-id'] });
    expect(res.body.detail).toMatch(/nested/);
    expect(JSON.stringify(res.body)).not.toMatch(/stack|RangeError|Maximum call/);
  };

  it('400 for an array 3 000 deep in a tenant login, before authentication', async () => {
    const res = await post('/v1/auth/login', `{"tenant":"acme","email":"a@b.test","password":${nestedArray(3000)}}`);
    expectDepthProblem(res);
  });

  it('400 for an object 3 000 deep in an operator refresh', async () => {
    expectDepthProblem(await post('/v1/platform/auth/refresh', nestedObject(3000)));
    expectDepthProblem(await post('/v1/platform/auth/refresh', `{"refreshToken":${nestedObject(3000)}}`));
  });

  it('400 for deep nesting on an authenticated route too, and the API keeps serving', async () => {
    const { accessToken } = await loginOperator(t.url);
    const res = await post('/v1/tenants', `{"name":"x","slug":"deep-x","admin":${nestedObject(200)}}`, accessToken);
    expectDepthProblem(res);
    // 40 at once: each is refused cheaply, none is a 500.
    const many = await Promise.all(
      Array.from({ length: 40 }, () => post('/v1/platform/auth/refresh', nestedArray(3000))),
    );
    expect(many.map((r) => r.status)).toEqual(Array(40).fill(400));
    await request(t.url).get('/health/live').expect(200);
  });

  it('counts structure, not brackets inside strings, and leaves ordinary bodies to validation', async () => {
    // Brackets inside a string are text: the request reaches validation (wrong password → 401).
    const res = await request(t.url)
      .post('/v1/platform/auth/login')
      .send({ email: 'nobody@operators.test', password: '[[[[{{{{'.repeat(25) });
    expect(res.status).toBe(401);
    // An escaped quote does not end the string early.
    const escaped = await post(
      '/v1/platform/auth/login',
      `{"email":"nobody@operators.test","password":"\\"${'['.repeat(100)}"}`,
    );
    expect(escaped.status).toBe(401);
    // Moderate nesting is not a depth error: validation names the field.
    const shallow = await post('/v1/platform/auth/refresh', `{"refreshToken":${nestedArray(10)}}`);
    expect(shallow.status).toBe(400);
    expect(shallow.body.detail).not.toMatch(/nested/);
    expect(shallow.body.errors.map((e: { field: string }) => e.field)).toContain('refreshToken');
  });

  it('400 for a body that is not an object (null used to create a chat as if it were {})', async () => {
    const { accessToken } = await loginOperator(t.url);
    const admin = await createTenantWithAdmin(t.url, accessToken);
    for (const raw of ['null', '[]', '"chat"', '42', 'true']) {
      const res = await post('/v1/chats', raw, admin.accessToken);
      expect(res.status).toBe(400);
      expect(res.body.detail).toBe('the JSON body must be an object');
    }
    const chats = await request(t.url).get('/v1/chats').auth(admin.accessToken, { type: 'bearer' }).expect(200);
    expect(chats.body.items).toEqual([]);
    // The same rule before authentication.
    expect((await post('/v1/auth/login', 'null')).status).toBe(400);
  });
});
