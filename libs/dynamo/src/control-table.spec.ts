import { type RefreshRotation, RefreshSessions, rotationUpdate, type SessionItems } from '@lib/auth';
import type { AppConfig } from '@lib/config';
import { MetricsService } from '@lib/observability';
import { ChangeFeed, type ControlTableService } from '@lib/tenancy';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import type { ModelType } from 'dynamoose/dist/General';
import type { Item } from 'dynamoose/dist/Item';
import { ControlKeys, ControlTable } from './control-table';
import type { DynamoClients } from './dynamo-clients';
import { controlTableSpec } from './table-definitions';

const control = new ControlTable('control-table-spec');
const OPERATOR = '01J0000000000000000000000A';
const SESSION = '01J0000000000000000000000B';
const NOW = '2026-12-01T10:00:00.000Z';

/**
 * The item exactly as the model would write it: rejects what the schema refuses (type, required, enum), and drops
 * nothing (an attribute the schema does not declare would be dropped, i.e. schema and item disagree).
 */
async function throughModel<T extends Item>(model: ModelType<T>, item: Record<string, unknown>) {
  const request = (await model.transaction.create(item as Partial<T>)) as unknown as {
    Put: { Item: Parameters<typeof unmarshall>[0] };
  };
  return unmarshall(request.Put.Item);
}

const tenant = {
  ...ControlKeys.tenant('T1'),
  ...ControlKeys.tenantIndex(NOW, 'T1'),
  id: 'T1',
  slug: 'acme',
  name: 'Acme',
  status: 'provisioning',
  tableName: 'tenant-T1',
  schemaVersion: 3,
  settings: {
    monthlyTokenQuota: null,
    userMonthlyTokenQuota: 1000,
    retentionDays: 30,
    llm: { provider: 'openai', model: 'm', apiKey: 'k' },
  },
  pendingAdmin: { id: 'U1', email: 'a@acme.test', name: 'A', passwordHash: 'h' },
  createdAt: NOW,
  updatedAt: NOW,
  version: 1,
};
const operator = {
  ...ControlKeys.operator(OPERATOR),
  ...ControlKeys.operatorIndex(NOW, OPERATOR),
  id: OPERATOR,
  email: 'op@example.test',
  name: 'Op',
  passwordHash: 'h',
  disabled: false,
  tokensValidAfter: 1_700_000_000,
  createdAt: NOW,
  updatedAt: NOW,
  version: 2,
};

/** Session items as `RefreshSessions` writes them (captured, then rotated as `rotationUpdate` sets them). */
async function sessionItem(): Promise<Record<string, unknown>> {
  let written: Record<string, unknown> = {};
  const items: SessionItems = {
    key: ControlKeys.operatorSession,
    create: async (item) => void (written = { ...item }),
    get: async () => written,
    update: async () => true,
    revoke: async () => undefined,
  };
  await new RefreshSessions(items).create(OPERATOR, SESSION, 'hash-1', 1_800_000_000);
  return written;
}

function rotated(item: Record<string, unknown>): Record<string, unknown> {
  const rotation: RefreshRotation = {
    refreshHash: 'hash-2',
    previousHashes: ['hash-1'],
    grace: { fromHash: 'hash-1', sealed: 'sealed', until: 1_800_000_000_000 },
  };
  const values = rotationUpdate('hash-1', rotation, 1_800_000_100).ExpressionAttributeValues;
  return {
    ...item,
    refreshHash: values[':new'],
    previousHashes: values[':prev'],
    grace: values[':grace'],
    expiresAt: values[':exp'],
  };
}

describe('control table: every item kind has a model that owns its schema, keyed by ControlKeys', () => {
  it('the models declare the keys and the index of the table as created', async () => {
    const request = (await control.table.create({ return: 'request' })) as unknown as {
      KeySchema: unknown;
      GlobalSecondaryIndexes: Array<{ IndexName: string; KeySchema: unknown }>;
    };
    const spec = controlTableSpec(control.tableName).create;
    expect(request.KeySchema).toEqual(spec.KeySchema);
    expect(request.GlobalSecondaryIndexes.map(({ IndexName, KeySchema }) => ({ IndexName, KeySchema }))).toEqual(
      spec.GlobalSecondaryIndexes?.map(({ IndexName, KeySchema }) => ({ IndexName, KeySchema })),
    );
  });

  it.each([
    ['tenant', () => control.tenants, tenant],
    ['slug marker', () => control.markers, { ...ControlKeys.slug('acme'), ownerId: 'T1', createdAt: NOW }],
    ['operator', () => control.operators, operator],
    [
      'operator e-mail marker',
      () => control.markers,
      { ...ControlKeys.operatorEmail('Op@Example.test'), ownerId: OPERATOR, createdAt: NOW },
    ],
    ['operator counter', () => control.operatorCount, { ...ControlKeys.operatorCount(), enabledCount: 2 }],
  ] as const)('%s: an item built with ControlKeys is written as is', async (_, model, item) => {
    expect(await throughModel(model() as ModelType<Item>, item)).toEqual(item);
  });

  it('an attribute the schema does not declare would be dropped: the comparison above catches a drift', async () => {
    expect(await throughModel(control.operators, { ...operator, role: 'admin' })).toEqual(operator);
  });

  it('refuses a tenant status outside TENANT_STATUSES and a record without its required fields', async () => {
    await expect(throughModel(control.tenants, { ...tenant, status: 'archived' })).rejects.toThrow();
    const { slug: _slug, ...withoutSlug } = tenant;
    await expect(throughModel(control.tenants, withoutSlug)).rejects.toThrow();
  });
});

describe('control table: the raw request-path items agree with their models', () => {
  it('a change record (ChangeFeed.entry, joined to tenant-table transactions) is a valid `changes` item', async () => {
    const feed = new ChangeFeed(
      {} as AppConfig,
      {} as DynamoClients,
      { tableName: control.tableName } as ControlTableService,
      new MetricsService(),
    );
    for (const change of [
      { kind: 'user', tenantId: 'T1', id: 'U1' },
      { kind: 'roles', tenantId: 'T1' },
      { kind: 'operator', id: OPERATOR },
    ] as const) {
      const item = feed.entry(change).Put?.Item as Record<string, unknown>;
      expect(item.pk).toBe(ControlKeys.change(new Date(feed.clock()).toISOString().slice(0, 13), '').pk);
      expect(await throughModel(control.changes, item)).toEqual(item);
    }
    await expect(
      throughModel(control.changes, { ...feed.record({ kind: 'tenant' }), kind: 'other' }),
    ).rejects.toThrow();
  });

  it('an operator session as created, and as a rotation leaves it (read and rotated raw), is a valid item', async () => {
    const created = await sessionItem();
    expect(created).toMatchObject({ ...ControlKeys.operatorSession(OPERATOR, SESSION), createdAt: expect.any(Number) });
    expect(await throughModel(control.operatorSessions, created)).toEqual(created);
    const after = rotated(created);
    expect(await throughModel(control.operatorSessions, after)).toEqual(after);
  });
});
