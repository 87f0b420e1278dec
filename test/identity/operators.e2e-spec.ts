import { DeleteCommand, GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import { TokenService } from '@lib/auth';
import { ControlKeys, DynamoClients, type OperatorAttributes } from '@lib/dynamo';
import { DomainError } from '@lib/observability';
import { OperatorsService } from '@app/operators/operators.service';
import request from 'supertest';
import { ulid } from 'ulid';
import { changeRecordsApplied, dynamoCallsForRequests } from '../support/metrics';
import { OPERATOR_EMAIL, startApp, type TestApp } from '../support/harness';
import { loginOperator, type TokenPair } from '../support/tokens';

const PASSWORD = 'an-operators-password';

describe('operators: per-request check, disable / enable / list, the last enabled operator', () => {
  let t: TestApp;
  let service: OperatorsService;
  let clients: DynamoClients;
  let table: string;

  beforeAll(async () => {
    t = await startApp();
    service = t.app.get(OperatorsService);
    clients = t.app.get(DynamoClients);
    table = `${t.config.dynamo.tablePrefix}platform`;
  });
  afterAll(() => t.close());

  let n = 0;
  async function newOperator(): Promise<{ id: string; email: string }> {
    const email = `op${++n}-${ulid().slice(-6).toLowerCase()}@operators.test`;
    const created = await service.create(email, `Operator ${n}`, PASSWORD);
    if (!created) throw new Error('not created');
    return created;
  }

  const stored = async (id: string) =>
    (await clients.doc.send(new GetCommand({ TableName: table, Key: ControlKeys.operator(id), ConsistentRead: true })))
      .Item as OperatorAttributes;
  const enabledCount = async () =>
    (
      await clients.doc.send(
        new GetCommand({ TableName: table, Key: ControlKeys.operatorCount(), ConsistentRead: true }),
      )
    ).Item?.enabledCount as number;
  const enabledOperators = async () => (await service.list()).filter((o) => !o.disabled);

  const tenants = (app: TestApp, token: string) => request(app.url).get('/v1/tenants').auth(token, { type: 'bearer' });
  const me = (app: TestApp, token: string) => request(app.url).get('/v1/platform/me').auth(token, { type: 'bearer' });
  const refresh = (app: TestApp, pair: TokenPair) =>
    request(app.url).post('/v1/platform/auth/refresh').send({ refreshToken: pair.refreshToken });

  /** Tokens carry `iat` in seconds; a token issued in the second of a disable counts as issued before it. */
  async function nextSecond(): Promise<void> {
    await new Promise((done) => setTimeout(done, 1000 - (Date.now() % 1000) + 20));
  }

  /** Disables every enabled operator but `keep` (oldest first), so that tests can reason about "the last". */
  async function leaveOnly(keep: string[]): Promise<void> {
    for (const o of await enabledOperators()) if (!keep.includes(o.id)) await service.disable(o.id);
  }

  it('a disabled operator is refused at once like a bad token; refresh and login too; data shows why', async () => {
    const second = await newOperator();
    const pair = await loginOperator(t.url, second.email, PASSWORD);
    await tenants(t, pair.accessToken).expect(200);
    await me(t, pair.accessToken).expect(200);
    const countBefore = await enabledCount();

    const disabledAt = Math.floor(Date.now() / 1000);
    await service.disable(second.email);

    const refused = await tenants(t, pair.accessToken).expect(401);
    const badToken = await tenants(t, `${pair.accessToken.slice(0, -2)}xx`).expect(401);
    expect(refused.body.detail).toBe('invalid or expired access token');
    expect(refused.body.detail).toBe(badToken.body.detail);
    await me(t, pair.accessToken).expect(401);
    await refresh(t, pair).expect(401);
    await request(t.url).post('/v1/platform/auth/login').send({ email: second.email, password: PASSWORD }).expect(401);

    const item = await stored(second.id);
    expect(item).toMatchObject({ disabled: true, version: 2 });
    expect(item.tokensValidAfter).toBeGreaterThanOrEqual(disabledAt);
    expect(await enabledCount()).toBe(countBefore - 1);
    // The bootstrap operator is untouched.
    await tenants(t, (await loginOperator(t.url)).accessToken).expect(200);
  });

  it('enable: a new login works; tokens and sessions from before the disable stay refused', async () => {
    const op = await newOperator();
    const old = await loginOperator(t.url, op.email, PASSWORD);
    await service.disable(op.id);
    await service.enable(op.id);
    expect(await stored(op.id)).toMatchObject({ disabled: false, version: 3 });

    await tenants(t, old.accessToken).expect(401);
    await refresh(t, old).expect(401);

    await nextSecond();
    const fresh = await loginOperator(t.url, op.email, PASSWORD);
    await tenants(t, fresh.accessToken).expect(200);
    await me(t, fresh.accessToken).expect(200);
    const renewed = (await refresh(t, fresh).expect(200)).body as TokenPair;
    await tenants(t, renewed.accessToken).expect(200);
    await tenants(t, old.accessToken).expect(401);
  });

  it('unknown operators: a token for an id that is no operator is refused; disable/enable answer not_found', async () => {
    // A correctly signed platform token whose subject is no operator (a deleted one, a leaked signing key).
    const forged = t.app.get(TokenService).issueAccessToken({ sub: ulid(), scope: 'platform', sid: ulid() });
    const refused = await tenants(t, forged).expect(401);
    expect(refused.body.detail).toBe('invalid or expired access token');
    await expect(service.disable('nobody@operators.test')).rejects.toMatchObject({ code: 'not_found' });
    await expect(service.enable(ulid())).rejects.toMatchObject({ code: 'not_found' });
    await expect(service.disable('not-an-id')).rejects.toMatchObject({ code: 'not_found' });
  });

  it('the last enabled operator cannot be disabled (409 conflict); nothing changes', async () => {
    const root = (await service.list()).find((o) => o.email === OPERATOR_EMAIL);
    if (!root) throw new Error('no bootstrap operator listed');
    await service.enable(root.id);
    await leaveOnly([root.id]);
    expect((await enabledOperators()).map((o) => o.id)).toEqual([root.id]);
    expect(await enabledCount()).toBe(1);
    const before = await stored(root.id);

    const refusal = await service.disable(root.id).catch((error: unknown) => error);
    expect(refusal).toBeInstanceOf(DomainError);
    expect(refusal).toMatchObject({ code: 'conflict', message: 'the last enabled operator cannot be disabled' });

    expect(await stored(root.id)).toEqual(before);
    expect(await enabledCount()).toBe(1);
    await tenants(t, (await loginOperator(t.url)).accessToken).expect(200);
  });

  it('40 rounds of two operators disabling each other at once, on two instances: one always stays enabled', async () => {
    const other = await startApp({ TABLE_PREFIX: t.config.dynamo.tablePrefix });
    try {
      const a = await newOperator();
      const b = await newOperator();
      await leaveOnly([a.id, b.id]);
      const onOther = other.app.get(OperatorsService);
      for (let round = 0; round < 40; round++) {
        // A (served by this instance) disables B while B (served by the other) disables A.
        const outcomes = await Promise.allSettled([service.disable(b.id), onOther.disable(a.id)]);
        const enabled = await enabledOperators();
        expect(enabled.length).toBeGreaterThanOrEqual(1);
        expect(await enabledCount()).toBe(enabled.length);
        const fulfilled = outcomes.filter((o) => o.status === 'fulfilled');
        expect(fulfilled).toHaveLength(1);
        for (const o of outcomes) {
          if (o.status === 'rejected') expect(o.reason).toMatchObject({ code: 'conflict' });
        }
        for (const id of [a.id, b.id]) await service.enable(id);
      }
    } finally {
      await other.close();
    }
  }, 120_000);

  it('another instance refuses a disabled operator within the revocation bound (the change feed)', async () => {
    const other = await startApp({ TABLE_PREFIX: t.config.dynamo.tablePrefix });
    try {
      const op = await newOperator();
      const pair = await loginOperator(other.url, op.email, PASSWORD);
      await tenants(other, pair.accessToken).expect(200); // cached on the other instance
      await service.disable(op.id);
      let status = 200;
      for (let i = 0; i < 100 && status === 200; i++) {
        await new Promise((done) => setTimeout(done, 100));
        status = (await tenants(other, pair.accessToken)).status;
      }
      expect(status).toBe(401);
    } finally {
      await other.close();
    }
  });

  it('lists every operator, oldest first, with its state; never the password hash', async () => {
    const op = await newOperator();
    await service.disable(op.id);
    const list = await service.list();
    expect(list[0].email).toBe(OPERATOR_EMAIL);
    expect(list.find((o) => o.id === op.id)).toEqual({
      id: op.id,
      email: op.email,
      name: expect.any(String),
      disabled: true,
      createdAt: expect.any(String),
    });
    expect([...list].sort((x, y) => x.createdAt.localeCompare(y.createdAt))).toEqual(list);
    expect(JSON.stringify(list)).not.toContain('argon2');
  });

  it('the per-request operator check costs no DynamoDB call in steady state', async () => {
    const root = (await service.list()).find((o) => o.email === OPERATOR_EMAIL);
    const applied = await changeRecordsApplied(t, 'operator');
    await service.enable(root!.id);
    // An enable that changes something writes a change record, which drops the cached operator when this
    // instance's feed applies it (within a poll): warming the cache before that would count the re-read.
    for (let i = 0; i < 100 && root!.disabled && (await changeRecordsApplied(t, 'operator')) === applied; i++) {
      await new Promise((done) => setTimeout(done, 50));
    }
    const { accessToken } = await loginOperator(t.url);
    await me(t, accessToken).expect(200); // warm the cache
    let before = await dynamoCallsForRequests(t);
    for (let i = 0; i < 40; i++) {
      await new Promise((done) => setTimeout(done, 50));
      const now = await dynamoCallsForRequests(t);
      if (now === before) break;
      before = now;
    }
    for (let i = 0; i < 20; i++) await me(t, accessToken).expect(200);
    expect((await dynamoCallsForRequests(t)) - before).toBe(0);
  });

  it('a deployment older than the operator list: the next boot indexes and counts its operators once', async () => {
    // An operator as the previous version wrote it (no gsi1 attributes), and no counter.
    const legacy = { id: ulid(), email: `legacy-${ulid().toLowerCase()}@operators.test` };
    const createdAt = new Date().toISOString();
    await clients.doc.send(
      new PutCommand({
        TableName: table,
        Item: {
          ...ControlKeys.operator(legacy.id),
          ...legacy,
          name: 'Legacy',
          passwordHash: (await stored((await service.list())[0].id)).passwordHash,
          disabled: false,
          createdAt,
          updatedAt: createdAt,
          version: 1,
        },
      }),
    );
    await clients.doc.send(new DeleteCommand({ TableName: table, Key: ControlKeys.operatorCount() }));
    const actuallyEnabled = (await enabledOperators()).length + 1;

    const next = await startApp({ TABLE_PREFIX: t.config.dynamo.tablePrefix });
    try {
      const listed = await next.app.get(OperatorsService).list();
      expect(listed.find((o) => o.id === legacy.id)).toMatchObject({ email: legacy.email, disabled: false });
      expect(await enabledCount()).toBe(actuallyEnabled);
      expect(await stored(legacy.id)).toMatchObject({
        gsi1pk: 'OPERATORS',
        gsi1sk: `${createdAt}#${legacy.id}`,
      });
      // The legacy operator can be disabled like any other, and counts.
      await next.app.get(OperatorsService).disable(legacy.id);
      expect(await enabledCount()).toBe(actuallyEnabled - 1);
    } finally {
      await next.close();
    }
  });
});
