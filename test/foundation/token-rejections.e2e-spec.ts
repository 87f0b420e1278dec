import { createPrivateKey, generateKeyPairSync } from 'node:crypto';
import request from 'supertest';
import { JWT_SECRET, startApp, type TestApp } from '../support/harness';
import { decodeToken, forgeToken, loginOperator } from '../support/tokens';

/** Every rejection TESTING.md lists for access tokens, on an authenticated route. */
describe('access token verification (HS256)', () => {
  let t: TestApp;
  let valid: string;
  let refreshToken: string;
  let header: Record<string, unknown>;
  let payload: Record<string, unknown>;
  const now = () => Math.floor(Date.now() / 1000);

  beforeAll(async () => {
    t = await startApp();
    const pair = await loginOperator(t.url);
    valid = pair.accessToken;
    refreshToken = pair.refreshToken;
    ({ header, payload } = decodeToken(valid));
  });
  afterAll(() => t.close());

  const me = (token: string) => request(t.url).get('/v1/platform/me').set('authorization', `Bearer ${token}`);
  const hs = (h: Record<string, unknown>, p: Record<string, unknown>) => forgeToken(h, p, { hmacKey: JWT_SECRET });

  it('accepts the genuine token, and a re-signed identical one (proves the forger matches)', async () => {
    await me(valid).expect(200);
    await me(hs(header, payload)).expect(200);
  });

  const cases: Array<[string, () => string]> = [
    ['no exp', () => hs(header, { ...payload, exp: undefined })],
    ['expired', () => hs(header, { ...payload, iat: now() - 3600, exp: now() - 60 })],
    ['nbf in the future', () => hs(header, { ...payload, nbf: now() + 3600 })],
    ['alg none', () => forgeToken({ ...header, alg: 'none' }, payload, { none: true })],
    ['alg NONE', () => forgeToken({ ...header, alg: 'NONE' }, payload, { none: true })],
    ['alg nOnE', () => forgeToken({ ...header, alg: 'nOnE' }, payload, { none: true })],
    ['alg HS512', () => forgeToken({ ...header, alg: 'HS512' }, payload, { hmacKey: JWT_SECRET })],
    ['wrong iss', () => hs(header, { ...payload, iss: 'someone-else' })],
    ['missing iss', () => hs(header, { ...payload, iss: undefined })],
    ['wrong aud', () => hs(header, { ...payload, aud: 'other-app' })],
    ['missing aud', () => hs(header, { ...payload, aud: undefined })],
    ['wrong typ', () => hs({ ...header, typ: 'JWT' }, payload)],
    ['missing typ', () => hs({ ...header, typ: undefined }, payload)],
    [
      'edited payload',
      () => {
        const [h, , s] = valid.split('.');
        const edited = Buffer.from(JSON.stringify({ ...payload, sub: '01ARZ3NDEKTSV4RRFFQ69G5FAV' })).toString(
          'base64url',
        );
        return `${h}.${edited}.${s}`;
      },
    ],
    ['unknown kid', () => hs({ ...header, kid: 'someone-elses-key' }, payload)],
    ['missing kid', () => hs({ ...header, kid: undefined }, payload)],
    ['wrong secret', () => forgeToken(header, payload, { hmacKey: 'another-secret-'.padEnd(48, 'y') })],
    [
      'a tenant token on a platform route',
      () => hs(header, { ...payload, scope: 'tenant', tid: '01ARZ3NDEKTSV4RRFFQ69G5FAV' }),
    ],
    ['unknown scope', () => hs(header, { ...payload, scope: 'root' })],
    ['garbage', () => 'not-a-token'],
  ];

  it.each(cases)('refuses a token with %s', async (name, make) => {
    const res = await me(make());
    // Scope mismatch is a valid token lacking the permission → 403; all else → 401.
    expect(res.status).toBe(name.startsWith('a tenant token') ? 403 : 401);
    expect(res.headers['content-type']).toContain('application/problem+json');
    expect(JSON.stringify(res.body)).not.toMatch(/jwt (malformed|expired)|invalid signature|stack/i);
  });

  it('refuses a refresh token used as an access token', async () => {
    await me(refreshToken).expect(401);
  });

  it('refuses a token in the query string (only the Authorization header counts)', async () => {
    await request(t.url).get(`/v1/platform/me?access_token=${valid}`).expect(401);
    await request(t.url).get(`/v1/platform/me?token=${valid}`).expect(401);
  });

  it('refuses a missing or non-bearer Authorization header', async () => {
    await request(t.url).get('/v1/platform/me').expect(401);
    await request(t.url).get('/v1/platform/me').set('authorization', `Basic ${valid}`).expect(401);
    await request(t.url).get('/v1/platform/me').set('authorization', `Bearer ${valid} extra`).expect(401);
  });
});

describe('access token verification (ES256 key pair)', () => {
  let t: TestApp;
  let valid: string;
  let publicPem: string;
  beforeAll(async () => {
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    publicPem = publicKey.export({ type: 'spki', format: 'pem' }).toString();
    t = await startApp({
      JWT_SECRET: undefined,
      CURSOR_SECRET: 'cursor-secret-'.padEnd(48, 'c'),
      JWT_PRIVATE_KEY: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
      JWT_PUBLIC_KEY: publicPem,
    });
    valid = (await loginOperator(t.url)).accessToken;
  });
  afterAll(() => t.close());

  const me = (token: string) => request(t.url).get('/v1/platform/me').set('authorization', `Bearer ${token}`);

  it('issues ES256 tokens that verify', async () => {
    expect(decodeToken(valid).header.alg).toBe('ES256');
    await me(valid).expect(200);
  });

  it('refuses HS256 signed with the public key (algorithm confusion)', async () => {
    const { header, payload } = decodeToken(valid);
    await me(forgeToken({ ...header, alg: 'HS256' }, payload, { hmacKey: publicPem })).expect(401);
  });

  it('refuses a token signed by another EC key', async () => {
    const { header, payload } = decodeToken(valid);
    const other = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
    await me(
      forgeToken(header, payload, { ecKey: createPrivateKey(other.export({ type: 'pkcs8', format: 'pem' })) }),
    ).expect(401);
  });
});
