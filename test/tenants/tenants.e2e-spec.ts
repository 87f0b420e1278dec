import { DescribeTableCommand, ListTablesCommand } from '@aws-sdk/client-dynamodb';
import { GetCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import { DynamoClients } from '@lib/dynamo';
import request from 'supertest';
import { TenantProvisioner } from '@app/tenants/tenant-provisioner';
import { CapacityRecorder } from '@app/usage/capacity-recorder';
import { JWT_SECRET, startApp, type TestApp } from '../support/harness';
import { createTenant, tenantBody, uniqueSlug } from '../support/tenants';
import { decodeToken, forgeToken, loginOperator } from '../support/tokens';

describe('tenants: onboarding and lifecycle (operator API)', () => {
  let t: TestApp;
  let token: string;
  let clients: DynamoClients;
  const api = () => request(t.url);

  beforeAll(async () => {
    t = await startApp();
    token = (await loginOperator(t.url)).accessToken;
    clients = t.app.get(DynamoClients);
  });
  afterAll(() => t.close());

  async function tenantTables(): Promise<string[]> {
    const names: string[] = [];
    let start: string | undefined;
    do {
      const page = await clients.ddb.send(new ListTablesCommand({ ExclusiveStartTableName: start }));
      names.push(...(page.TableNames ?? []).filter((n) => n.startsWith(`${t.config.dynamo.tablePrefix}t-`)));
      start = page.LastEvaluatedTableName;
    } while (start);
    return names;
  }

  it('creates an active tenant with its own table, built-in roles and the first admin', async () => {
    const slug = uniqueSlug('acme');
    const res = await api().post('/v1/tenants').auth(token, { type: 'bearer' }).send(tenantBody(slug)).expect(201);
    expect(res.body).toEqual({
      id: expect.stringMatching(/^[0-9A-Z]{26}$/),
      slug,
      name: `Tenant ${slug}`,
      status: 'active',
      tableName: `${t.config.dynamo.tablePrefix}t-${res.body.id}`,
      schemaVersion: 3,
      settings: { monthlyTokenQuota: null, retentionDays: null },
      createdAt: expect.any(String),
      updatedAt: expect.any(String),
    });
    const { Table } = await clients.ddb.send(new DescribeTableCommand({ TableName: res.body.tableName }));
    expect(Table?.TableStatus).toBe('ACTIVE');
    expect(Table?.GlobalSecondaryIndexes?.map((i) => i.IndexName).sort()).toEqual(['gsi1']);

    const roles = await clients.doc.send(
      new QueryCommand({
        TableName: res.body.tableName,
        IndexName: 'gsi1',
        KeyConditionExpression: 'gsi1pk = :p',
        ExpressionAttributeValues: { ':p': 'ROLES' },
      }),
    );
    expect(roles.Items?.map((r) => r.name).sort()).toEqual(['admin', 'member', 'owner', 'viewer']);
    const owner = roles.Items?.find((r) => r.name === 'owner');
    expect(owner?.permissions).toHaveLength(12);

    const marker = await clients.doc.send(
      new GetCommand({ TableName: res.body.tableName, Key: { pk: `EMAIL#admin@${slug}.test`, sk: 'EMAIL' } }),
    );
    const admin = await clients.doc.send(
      new GetCommand({ TableName: res.body.tableName, Key: { pk: `USER#${marker.Item?.ownerId}`, sk: 'USER' } }),
    );
    expect(admin.Item).toMatchObject({ email: `admin@${slug}.test`, roleIds: [owner?.id], disabled: false });
    expect(admin.Item?.passwordHash).toMatch(/^\$argon2id\$/);

    // The record no longer carries the pending admin.
    const record = await clients.doc.send(
      new GetCommand({
        TableName: `${t.config.dynamo.tablePrefix}platform`,
        Key: { pk: `TENANT#${res.body.id}`, sk: 'TENANT' },
      }),
    );
    expect(record.Item?.pendingAdmin).toBeUndefined();
    expect(JSON.stringify(res.body)).not.toContain('argon2');
  });

  it.each([
    ['a bad slug', tenantBody('Not_A_Slug')],
    ['a too short slug', tenantBody('ab')],
    ['a slug with a trailing hyphen', tenantBody('abc-')],
    ['a reserved slug', tenantBody('platform')],
    ['a reserved slug (api)', tenantBody('api')],
    ['an unknown field', { ...tenantBody(), plan: 'gold' }],
    [
      'an unknown admin field',
      tenantBody(uniqueSlug(), {
        admin: { email: 'a@b.test', name: 'A', password: 'a-very-good-password', roleIds: ['x'] },
      }),
    ],
    ['an oversized name', tenantBody(uniqueSlug(), { name: 'x'.repeat(101) })],
    ['an empty name', tenantBody(uniqueSlug(), { name: '' })],
    [
      'a short admin password',
      tenantBody(uniqueSlug(), { admin: { email: 'a@b.test', name: 'A', password: 'short' } }),
    ],
    [
      'a bad admin email',
      tenantBody(uniqueSlug(), { admin: { email: 'nope', name: 'A', password: 'a-very-good-password' } }),
    ],
    ['a missing admin', { name: 'x', slug: uniqueSlug() }],
  ])('refuses %s with 400 naming the field, creating nothing', async (_name, body) => {
    const before = (await tenantTables()).length;
    const res = await api().post('/v1/tenants').auth(token, { type: 'bearer' }).send(body).expect(400);
    expect(res.body.errors?.length).toBeGreaterThan(0);
    expect((await tenantTables()).length).toBe(before);
  });

  it('20 concurrent creates with the same slug → exactly one tenant and one table', async () => {
    const slug = uniqueSlug('race');
    const before = (await tenantTables()).length;
    const results = await Promise.all(
      Array.from({ length: 20 }, () =>
        api().post('/v1/tenants').auth(token, { type: 'bearer' }).send(tenantBody(slug)),
      ),
    );
    expect(results.filter((r) => r.status === 201)).toHaveLength(1);
    expect(results.filter((r) => r.status === 409)).toHaveLength(19);
    expect((await tenantTables()).length).toBe(before + 1);
  });

  it('lists tenants newest first with signed cursors bound to the list', async () => {
    const created = [
      await createTenant(t.url, token),
      await createTenant(t.url, token),
      await createTenant(t.url, token),
    ];
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const res: request.Response = await api()
        .get('/v1/tenants')
        .query(cursor ? { limit: 2, cursor } : { limit: 2 })
        .auth(token, { type: 'bearer' })
        .expect(200);
      expect(res.body.items.length).toBeLessThanOrEqual(2);
      seen.push(...res.body.items.map((i: { id: string }) => i.id));
      cursor = res.body.nextCursor;
      if (cursor) {
        // The same cursor on another list (status filter) is refused.
        await api()
          .get('/v1/tenants')
          .query({ limit: 2, cursor, status: 'active' })
          .auth(token, { type: 'bearer' })
          .expect(400);
        await api()
          .get('/v1/tenants')
          .query({ limit: 2, cursor: `${cursor}x` })
          .auth(token, { type: 'bearer' })
          .expect(400);
      }
    } while (cursor);
    expect(seen).toEqual(expect.arrayContaining(created.map((c) => c.id)));
    expect(new Set(seen).size).toBe(seen.length);
    const order = created.map((c) => seen.indexOf(c.id));
    expect(order).toEqual([...order].sort((a, b) => b - a));
    await api().get('/v1/tenants').query({ limit: 101 }).auth(token, { type: 'bearer' }).expect(400);
    await api().get('/v1/tenants').query({ limit: 0 }).auth(token, { type: 'bearer' }).expect(400);
    // The status filter: only that status; an unknown status or parameter is refused, naming it.
    const suspended = await api()
      .get('/v1/tenants')
      .query({ status: 'suspended', limit: 100 })
      .auth(token, { type: 'bearer' })
      .expect(200);
    expect(suspended.body.items.every((i: { status: string }) => i.status === 'suspended')).toBe(true);
    expect(suspended.body.items.map((i: { id: string }) => i.id)).not.toEqual(expect.arrayContaining([created[0].id]));
    for (const [query, field] of [
      [{ status: 'sleeping' }, 'status'],
      [{ state: 'active' }, 'state'],
    ] as const) {
      const bad = await api().get('/v1/tenants').query(query).auth(token, { type: 'bearer' }).expect(400);
      expect(bad.body.errors).toEqual([expect.objectContaining({ field })]);
    }
  });

  it('GET unknown and malformed ids → 404 / 400', async () => {
    await api().get('/v1/tenants/01ARZ3NDEKTSV4RRFFQ69G5FAV').auth(token, { type: 'bearer' }).expect(404);
    await api().get('/v1/tenants/not-an-id').auth(token, { type: 'bearer' }).expect(400);
  });

  it('PATCH applies name and settings with optimistic locking (ETag / If-Match)', async () => {
    const tenant = await createTenant(t.url, token);
    const read = await api().get(`/v1/tenants/${tenant.id}`).auth(token, { type: 'bearer' }).expect(200);
    const etag = read.headers.etag as string;
    expect(etag).toMatch(/^"\d+"$/);
    const results = await Promise.all(
      ['First', 'Second'].map((name) =>
        api().patch(`/v1/tenants/${tenant.id}`).set('if-match', etag).auth(token, { type: 'bearer' }).send({ name }),
      ),
    );
    expect(results.map((r) => r.status).sort()).toEqual([200, 412]);
    const updated = await api()
      .patch(`/v1/tenants/${tenant.id}`)
      .auth(token, { type: 'bearer' })
      .send({
        settings: {
          monthlyTokenQuota: 1000,
          retentionDays: 30,
          llm: { provider: 'openai', model: 'm', apiKey: 'sk-secret-key' },
        },
      })
      .expect(200);
    expect(updated.body.settings).toEqual({
      monthlyTokenQuota: 1000,
      retentionDays: 30,
      llm: { provider: 'openai', model: 'm', apiKeySet: true },
    });
    expect(JSON.stringify(updated.body)).not.toContain('sk-secret-key');
    await api()
      .patch(`/v1/tenants/${tenant.id}`)
      .auth(token, { type: 'bearer' })
      .send({ settings: { retentionDays: 0 } })
      .expect(400);
    await api()
      .patch(`/v1/tenants/${tenant.id}`)
      .auth(token, { type: 'bearer' })
      .send({ status: 'deleted' })
      .expect(400);
    await api().patch(`/v1/tenants/${tenant.id}`).auth(token, { type: 'bearer' }).send({ version: 3 }).expect(400);
    await api()
      .patch(`/v1/tenants/${tenant.id}`)
      .set('if-match', 'garbage')
      .auth(token, { type: 'bearer' })
      .send({ name: 'x' })
      .expect(400);
  });

  it('suspends and resumes a tenant; the registry sees it at once on this instance', async () => {
    const tenant = await createTenant(t.url, token);
    const suspended = await api()
      .patch(`/v1/tenants/${tenant.id}`)
      .auth(token, { type: 'bearer' })
      .send({ status: 'suspended' })
      .expect(200);
    expect(suspended.body.status).toBe('suspended');
    const { TenantRegistry } = await import('@lib/tenancy');
    expect((await t.app.get(TenantRegistry).resolve(tenant.id))?.status).toBe('suspended');
    await api()
      .patch(`/v1/tenants/${tenant.id}`)
      .auth(token, { type: 'bearer' })
      .send({ status: 'active' })
      .expect(200);
    expect((await t.app.get(TenantRegistry).resolve(tenant.id))?.status).toBe('active');
  });

  it('deletes a tenant: 202 deleting, then deleted, table gone, slug still reserved; twice is fine', async () => {
    const tenant = await createTenant(t.url, token);
    const res = await api().delete(`/v1/tenants/${tenant.id}`).auth(token, { type: 'bearer' }).expect(202);
    expect(['deleting', 'deleted']).toContain(res.body.status);
    let status = res.body.status as string;
    for (let i = 0; i < 40 && status !== 'deleted'; i++) {
      await new Promise((r) => setTimeout(r, 250));
      status = (await api().get(`/v1/tenants/${tenant.id}`).auth(token, { type: 'bearer' }).expect(200)).body.status;
    }
    expect(status).toBe('deleted');
    expect(await tenantTables()).not.toContain(tenant.tableName);
    await api().delete(`/v1/tenants/${tenant.id}`).auth(token, { type: 'bearer' }).expect(202);
    await api().post('/v1/tenants').auth(token, { type: 'bearer' }).send(tenantBody(tenant.slug)).expect(409);
    await api()
      .patch(`/v1/tenants/${tenant.id}`)
      .auth(token, { type: 'bearer' })
      .send({ status: 'active' })
      .expect(409);
  });

  it('a failing table creation marks the tenant failed with the reason; reconcile finishes it', async () => {
    let refuse = true;
    clients.ddb.middlewareStack.add(
      (next, context) => async (args) => {
        if (refuse && context.commandName === 'CreateTableCommand') {
          throw Object.assign(new Error('Subscriber limit exceeded: table quota reached'), {
            name: 'LimitExceededException',
          });
        }
        return next(args);
      },
      { step: 'initialize', name: 'testRefuseCreateTable' },
    );
    try {
      const slug = uniqueSlug('fail');
      const res = await api().post('/v1/tenants').auth(token, { type: 'bearer' }).send(tenantBody(slug)).expect(202);
      expect(res.body.status).toBe('failed');
      expect(res.body.failureReason).toContain('LimitExceededException');
      refuse = false;
      const report = await t.app.get(TenantProvisioner).reconcile(true);
      expect(report.provisioned).toContain(res.body.id);
      const after = await api().get(`/v1/tenants/${res.body.id}`).auth(token, { type: 'bearer' }).expect(200);
      expect(after.body.status).toBe('active');
      expect(after.body.failureReason).toBeUndefined();
    } finally {
      clients.ddb.middlewareStack.remove('testRefuseCreateTable');
    }
  });

  it('usage: a new tenant has no tokens or requests, its provisioning writes are counted; month validated, the current one by default', async () => {
    const tenant = await createTenant(t.url, token);
    // The recorder flushes every few seconds; flush now so that the result does not depend on timing.
    await t.app.get(CapacityRecorder).flush();
    const usage = (month: string) =>
      api().get(`/v1/tenants/${tenant.id}/usage`).query({ month }).auth(token, { type: 'bearer' }).expect(200);
    const month = new Date().toISOString().slice(0, 7);
    const current = await usage(month);
    expect(current.body).toEqual({
      month,
      inputTokens: 0,
      outputTokens: 0,
      requests: 0,
      byUser: [],
      dynamodb: { readCapacityUnits: expect.any(Number), writeCapacityUnits: expect.any(Number) },
    });
    // Provisioning wrote the built-in roles and the first admin into the tenant's table.
    expect(current.body.dynamodb.writeCapacityUnits).toBeGreaterThan(0);
    const before = await usage('2020-01');
    expect(before.body).toEqual({
      month: '2020-01',
      inputTokens: 0,
      outputTokens: 0,
      requests: 0,
      byUser: [],
      dynamodb: { readCapacityUnits: 0, writeCapacityUnits: 0 },
    });
    await api()
      .get(`/v1/tenants/${tenant.id}/usage`)
      .query({ month: '2026-13' })
      .auth(token, { type: 'bearer' })
      .expect(400);
    // Without `month`: the current month.
    const noMonth = await api().get(`/v1/tenants/${tenant.id}/usage`).auth(token, { type: 'bearer' }).expect(200);
    expect(noMonth.body.month).toBe(new Date().toISOString().slice(0, 7));
  });

  it('refuses a tenant-scoped token on every operator route (403), changing nothing', async () => {
    const tenant = await createTenant(t.url, token);
    const { header, payload } = decodeToken(token);
    const tenantToken = forgeToken(header, { ...payload, scope: 'tenant', tid: tenant.id }, { hmacKey: JWT_SECRET });
    const routes: Array<[string, string, object?]> = [
      ['get', '/v1/platform/me'],
      ['post', '/v1/tenants', tenantBody()],
      ['get', '/v1/tenants'],
      ['get', `/v1/tenants/${tenant.id}`],
      ['patch', `/v1/tenants/${tenant.id}`, { status: 'suspended' }],
      ['delete', `/v1/tenants/${tenant.id}`],
      ['get', `/v1/tenants/${tenant.id}/usage?month=2026-11`],
    ];
    for (const [method, path, body] of routes) {
      const call = (api() as unknown as Record<string, (p: string) => request.Test>)
        [method](path)
        .auth(tenantToken, { type: 'bearer' });
      const res = await (body ? call.send(body) : call);
      expect([method, path, res.status]).toEqual([method, path, 403]);
    }
    const after = await api().get(`/v1/tenants/${tenant.id}`).auth(token, { type: 'bearer' }).expect(200);
    expect(after.body.status).toBe('active');
  });
});
