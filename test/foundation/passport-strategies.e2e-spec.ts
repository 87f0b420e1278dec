/**
 * Every way in is a passport strategy registered through @nestjs/passport, on the application's own Passport
 * instance: two applications in one process (different signing keys) each run their own strategies, and
 * passport's process-wide instance holds none of them.
 */
import { Authenticator, AccessTokenStrategy, Strategies } from '@lib/auth';
import passport from 'passport';
import request from 'supertest';
import { ApiKeyStrategy } from '../../apps/api/src/api-keys/api-key.strategy';
import { OperatorPasswordStrategy } from '../../apps/api/src/auth/operator-password.strategy';
import { TenantPasswordStrategy } from '../../apps/api/src/auth/tenant-password.strategy';
import { startApp, type TestApp } from '../support/harness';
import { loginOperator } from '../support/tokens';

/** passport keeps its strategies by name in `_strategy(name)` (not part of its typed surface). */
type WithStrategies = { _strategy(name: string): unknown };
const strategyOf = (instance: unknown, name: string) => (instance as WithStrategies)._strategy(name);

describe('passport strategies', () => {
  let a: TestApp;
  let b: TestApp;

  beforeAll(async () => {
    [a, b] = await Promise.all([startApp(), startApp({ JWT_SECRET: 'another-secret-'.padEnd(48, 'y') })]);
  });
  afterAll(async () => {
    await b?.close();
    await a?.close();
  });

  it("registers every way in on the application's own Passport instance, none on passport's global one", () => {
    const expected: Array<[string, abstract new (...args: never[]) => unknown]> = [
      [Strategies.accessToken, AccessTokenStrategy],
      [Strategies.apiKey, ApiKeyStrategy],
      [Strategies.tenantPassword, TenantPasswordStrategy],
      [Strategies.operatorPassword, OperatorPasswordStrategy],
    ];
    for (const [name, type] of expected) {
      const ofA = strategyOf(a.app.get(Authenticator).passport, name);
      const ofB = strategyOf(b.app.get(Authenticator).passport, name);
      expect(ofA).toBeInstanceOf(type);
      expect(ofB).toBeInstanceOf(type);
      expect(ofA).not.toBe(ofB);
      expect(strategyOf(passport, name)).toBeUndefined();
    }
  });

  it('each application verifies tokens with its own strategy (and key)', async () => {
    const [tokenOfA, tokenOfB] = await Promise.all([loginOperator(a.url), loginOperator(b.url)]);
    await request(a.url).get('/v1/platform/me').auth(tokenOfA.accessToken, { type: 'bearer' }).expect(200);
    await request(b.url).get('/v1/platform/me').auth(tokenOfB.accessToken, { type: 'bearer' }).expect(200);
    await request(a.url).get('/v1/platform/me').auth(tokenOfB.accessToken, { type: 'bearer' }).expect(401);
    await request(b.url).get('/v1/platform/me').auth(tokenOfA.accessToken, { type: 'bearer' }).expect(401);
  });

  it('a bearer credential no strategy of the route recognises is a 401', async () => {
    for (const credential of ['not-a-token', 'cpk_', 'a.b']) {
      const res = await request(a.url).get('/v1/platform/me').auth(credential, { type: 'bearer' }).expect(401);
      expect(res.body.detail).toBe('missing or malformed bearer token');
    }
  });
});
