import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { ControlKeys, DynamoClients, OPTIMISTIC_ATTEMPTS, TenantKeys } from '@lib/dynamo';
import request from 'supertest';
import { startApp, type TestApp } from '../support/harness';
import { createTenantWithAdmin, type TenantSession } from '../support/tenants';
import { loginOperator } from '../support/tokens';

/**
 * Read-modify-write routes without If-Match: a writer that loses the race reads again and writes on the new
 * version (libs/dynamo optimistic.ts). Each lost race is another writer's win, so as many concurrent writers
 * as the retry limit all land; none is lost and none is told to retry.
 */
describe('concurrent PATCHes without If-Match', () => {
  let t: TestApp;
  let operator: string;
  let acme: TenantSession;
  const api = () => request(t.url);
  const writers = Array.from({ length: OPTIMISTIC_ATTEMPTS }, (_, i) => `writer ${i}`);
  const stored = async (tableName: string, key: Record<string, string>) =>
    (await t.app.get(DynamoClients).doc.send(new GetCommand({ TableName: tableName, Key: key, ConsistentRead: true })))
      .Item;

  beforeAll(async () => {
    // DynamoDB Local runs transactions one at a time; the races are about outcomes, not speed.
    t = await startApp({ DYNAMODB_TIMEOUT_MS: '15000' });
    operator = (await loginOperator(t.url)).accessToken;
    acme = await createTenantWithAdmin(t.url, operator);
  });
  afterAll(() => t.close());

  it(`${OPTIMISTIC_ATTEMPTS} renames of one chat at once → all 200; the chat took every one (version + ${OPTIMISTIC_ATTEMPTS})`, async () => {
    const chat = await api().post('/v1/chats').auth(acme.accessToken, { type: 'bearer' }).send({ title: 'start' });
    expect(chat.status).toBe(201);
    const results = await Promise.all(
      writers.map((title) =>
        api().patch(`/v1/chats/${chat.body.id}`).auth(acme.accessToken, { type: 'bearer' }).send({ title }),
      ),
    );
    expect(results.map((r) => r.status)).toEqual(writers.map(() => 200));
    const item = await stored(acme.tableName, TenantKeys.chat(chat.body.id));
    expect(item?.version).toBe(1 + OPTIMISTIC_ATTEMPTS);
    expect(writers).toContain(item?.title);
  });

  it(`${OPTIMISTIC_ATTEMPTS} changes of one role at once → all 200; the role took every one`, async () => {
    const role = await api()
      .post('/v1/roles')
      .auth(acme.accessToken, { type: 'bearer' })
      .send({ name: `racing-${process.pid}`, permissions: ['chats:read'] });
    expect(role.status).toBe(201);
    const results = await Promise.all(
      writers.map((description) =>
        api().patch(`/v1/roles/${role.body.id}`).auth(acme.accessToken, { type: 'bearer' }).send({ description }),
      ),
    );
    expect(results.map((r) => r.status)).toEqual(writers.map(() => 200));
    const item = await stored(acme.tableName, TenantKeys.role(role.body.id));
    expect(item?.version).toBe(1 + OPTIMISTIC_ATTEMPTS);
    expect(writers).toContain(item?.description);
  });

  it(`${OPTIMISTIC_ATTEMPTS} renames of one tenant at once → all 200; the record took every one`, async () => {
    const before = await stored(`${t.config.dynamo.tablePrefix}platform`, ControlKeys.tenant(acme.tenantId));
    const results = await Promise.all(
      writers.map((name) =>
        api().patch(`/v1/tenants/${acme.tenantId}`).auth(operator, { type: 'bearer' }).send({ name }),
      ),
    );
    expect(results.map((r) => r.status)).toEqual(writers.map(() => 200));
    const item = await stored(`${t.config.dynamo.tablePrefix}platform`, ControlKeys.tenant(acme.tenantId));
    expect(item?.version).toBe(Number(before?.version) + OPTIMISTIC_ATTEMPTS);
    expect(writers).toContain(item?.name);
  });
});
