import { DynamoDbLocal } from '@lib/dynamo/local';
import request from 'supertest';
import { CapacityRecorder } from '@app/usage/capacity-recorder';
import { startApp, type TestApp } from '../support/harness';
import { dynamoCallsForRequests } from '../support/metrics';
import { createTenantWithAdmin, type TenantSession } from '../support/tenants';
import { loginOperator } from '../support/tokens';

const TENANTS = 200;

/**
 * Sparse traffic over many tenants, as a real fleet has it: once each caller has been seen, resolving tenant,
 * user and roles costs no DynamoDB call at all (caches live until the change feed names an entry; nothing
 * expires and re-reads every few seconds).
 */
describe(`sparse traffic over ${TENANTS} tenants on one instance`, () => {
  let t: TestApp;
  let local: DynamoDbLocal;
  const tenants: TenantSession[] = [];

  beforeAll(async () => {
    // Its own DynamoDB Local: creating 200 tables slows down as the run's shared instance fills with every other
    // suite's tables (38 s alone, 194 s in a CI rehearsal).
    local = await DynamoDbLocal.start({ inMemory: true, startTimeoutMs: 90_000 });
    t = await startApp({ DYNAMODB_ENDPOINT: local.endpoint });
    const operator = (await loginOperator(t.url)).accessToken;
    // Created 10 at a time: each is a table, its roles and its first admin, signed in.
    for (let i = 0; i < TENANTS; i += 10) {
      tenants.push(
        ...(await Promise.all(
          Array.from({ length: Math.min(10, TENANTS - i) }, () => createTenantWithAdmin(t.url, operator)),
        )),
      );
    }
  }, 300_000);
  afterAll(async () => {
    await t?.close();
    await local?.stop();
  });

  const me = (tenant: TenantSession) =>
    request(t.url).get('/v1/me').auth(tenant.accessToken, { type: 'bearer' }).expect(200);

  it('after each caller was seen once, ≤ 0.05 DynamoDB calls per request beyond the feed polling', async () => {
    // Creating the tenants wrote change records (status, roles): once the feed has delivered them (within the
    // bound), each caller is seen once.
    await new Promise((r) => setTimeout(r, 2_500));
    for (const tenant of tenants) await me(tenant);
    // The capacity those first reads consumed is recorded now, not in the measured window (a deferred write).
    await t.app.get(CapacityRecorder).flush();
    const before = await dynamoCallsForRequests(t);
    let requests = 0;
    // Three rounds in a shuffled order, spread over several seconds, as sparse traffic arrives.
    for (let round = 0; round < 3; round++) {
      const order = [...tenants].sort(() => Math.random() - 0.5);
      for (let i = 0; i < order.length; i += 20) {
        await Promise.all(order.slice(i, i + 20).map(me));
        requests += Math.min(20, order.length - i);
      }
      await new Promise((r) => setTimeout(r, 1_500)); // longer than a poll: the feed runs meanwhile
    }
    const perRequest = ((await dynamoCallsForRequests(t)) - before) / requests;
    expect(requests).toBe(3 * TENANTS);
    expect(perRequest).toBeLessThanOrEqual(0.05);
  });
});
