import request from 'supertest';
import { startApp, type TestApp } from '../support/harness';
import { loginOperator } from '../support/tokens';

/** Every error is an RFC 9457 problem with a request id and no internals. */
describe('problem responses, request ids and security headers', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startApp({ BODY_LIMIT_BYTES: '2048' });
  });
  afterAll(() => t.close());

  const expectProblem = (res: request.Response, status: number) => {
    expect(res.status).toBe(status);
    expect(res.headers['content-type']).toContain('application/problem+json');
    expect(res.body).toMatchObject({
      type: 'about:blank',
      status,
      title: expect.any(String),
      requestId: res.headers['x-request-id'],
    });
    const text = JSON.stringify(res.body);
    expect(text).not.toMatch(/stack|Exception|FST_|platform"|e2e[0-9a-f]{8}-|arn:aws/);
  };

  it('404 for an unknown route', async () => {
    const res = await request(t.url).get('/v1/nope');
    expectProblem(res, 404);
    expect(res.body.instance).toBe('/v1/nope');
  });

  it('400 for malformed JSON', async () => {
    const res = await request(t.url)
      .post('/v1/platform/auth/login')
      .set('content-type', 'application/json')
      .send('{"email": ');
    expectProblem(res, 400);
  });

  it('413 for an oversized body', async () => {
    const res = await request(t.url)
      .post('/v1/platform/auth/login')
      .send({ email: 'a@b.test', password: 'x'.repeat(5000) });
    expectProblem(res, 413);
  });

  it('415 for a wrong content type', async () => {
    for (const type of ['text/plain', 'application/xml', 'application/x-www-form-urlencoded']) {
      const res = await request(t.url).post('/v1/platform/auth/login').set('content-type', type).send('email=a');
      expectProblem(res, 415);
    }
  });

  it('400 naming the fields for missing, wrong-typed and unknown properties', async () => {
    const res = await request(t.url).post('/v1/platform/auth/login').send({ email: 42, admin: true });
    expectProblem(res, 400);
    const fields = (res.body.errors as Array<{ field: string }>).map((e) => e.field);
    expect(fields).toEqual(expect.arrayContaining(['email', 'password', 'admin']));
  });

  it('echoes a well-formed X-Request-Id and replaces a malformed one', async () => {
    const echoed = await request(t.url).get('/health/live').set('x-request-id', 'abc-123.x');
    expect(echoed.headers['x-request-id']).toBe('abc-123.x');
    const replaced = await request(t.url).get('/health/live').set('x-request-id', 'bad id <script>');
    expect(replaced.headers['x-request-id']).toMatch(/^[0-9A-Z]{26}$/);
    const generated = await request(t.url).get('/v1/nope');
    expect(generated.headers['x-request-id']).toMatch(/^[0-9A-Z]{26}$/);
    expect(generated.body.requestId).toBe(generated.headers['x-request-id']);
  });

  it('sends security headers', async () => {
    const res = await request(t.url).get('/health/live');
    expect(res.headers['x-content-type-options']).toBe('nosniff');
    expect(res.headers['strict-transport-security']).toBeDefined();
    expect(res.headers['content-security-policy']).toContain("default-src 'self'");
    expect(res.headers['x-powered-by']).toBeUndefined();
  });

  it('asks browsers and proxies not to store any response: data, tokens, problems', async () => {
    const operator = await loginOperator(t.url);
    const me = await request(t.url).get('/v1/platform/me').auth(operator.accessToken, { type: 'bearer' }).expect(200);
    const login = await request(t.url)
      .post('/v1/platform/auth/refresh')
      .send({ refreshToken: operator.refreshToken })
      .expect(200);
    const problem = await request(t.url).get('/v1/platform/me').expect(401);
    for (const res of [me, login, problem]) expect(res.headers['cache-control']).toBe('no-store');
  });

  it('serves the OpenAPI document and Swagger UI', async () => {
    const doc = await request(t.url).get('/docs-json').expect(200);
    expect(doc.body.openapi).toMatch(/^3\./);
    expect(Object.keys(doc.body.paths)).toEqual(
      expect.arrayContaining(['/v1/platform/auth/login', '/v1/platform/me', '/health/ready']),
    );
    await request(t.url).get('/docs').expect(200);
  });
});

describe('docs switched off', () => {
  it('404 on /docs-json when DOCS_ENABLED=false', async () => {
    const t = await startApp({ DOCS_ENABLED: 'false' });
    try {
      await request(t.url).get('/docs-json').expect(404);
    } finally {
      await t.close();
    }
  });
});

describe('CORS', () => {
  it('answers nothing cross-origin by default, and only the configured origins when CORS_ORIGINS is set', async () => {
    const closed = await startApp();
    const open = await startApp({ CORS_ORIGINS: 'https://app.example.com, https://admin.example.com' });
    try {
      const preflight = (url: string, origin: string) =>
        fetch(`${url}/v1/me`, {
          method: 'OPTIONS',
          headers: {
            origin,
            'access-control-request-method': 'GET',
            'access-control-request-headers': 'authorization',
          },
        });
      // No origins configured: no CORS headers at all, so browsers refuse cross-origin calls.
      const none = await fetch(`${closed.url}/health/live`, { headers: { origin: 'https://app.example.com' } });
      expect(none.headers.get('access-control-allow-origin')).toBeNull();
      expect(
        (await preflight(closed.url, 'https://app.example.com')).headers.get('access-control-allow-origin'),
      ).toBeNull();
      // Configured: a listed origin is allowed (preflight and actual request, exposed headers listed)...
      const ok = await preflight(open.url, 'https://app.example.com');
      expect(ok.status).toBe(204);
      expect(ok.headers.get('access-control-allow-origin')).toBe('https://app.example.com');
      const actual = await fetch(`${open.url}/health/live`, { headers: { origin: 'https://admin.example.com' } });
      expect(actual.headers.get('access-control-allow-origin')).toBe('https://admin.example.com');
      expect(actual.headers.get('access-control-expose-headers')).toContain('x-request-id');
      // ...an unlisted one is not.
      const evil = await preflight(open.url, 'https://evil.example.net');
      expect(evil.headers.get('access-control-allow-origin')).toBeNull();
    } finally {
      await Promise.all([closed.close(), open.close()]);
    }
  });
});
