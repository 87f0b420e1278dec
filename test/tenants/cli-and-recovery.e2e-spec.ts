import { DescribeTableCommand } from '@aws-sdk/client-dynamodb';
import { GetCommand } from '@aws-sdk/lib-dynamodb';
import {
  ControlKeys,
  DynamoClients,
  genericIndex,
  TableManager,
  type TenantAttributes,
  tenantTableName,
} from '@lib/dynamo';
import { DynamoDbLocal } from '@lib/dynamo/local';
import { TENANT_MIGRATIONS } from '@app/tenants/tenant-migrations';
import { TenantProvisioner } from '@app/tenants/tenant-provisioner';
import { TenantsRepository } from '@app/tenants/tenants.repository';
import request from 'supertest';
import { ulid } from 'ulid';
import { runCli } from '../support/cli';
import { startApp, testEnv, type TestApp } from '../support/harness';
import { uniqueSlug } from '../support/tenants';
import { loginOperator } from '../support/tokens';

const ADMIN_PASSWORD = 'the-first-admins-password';

describe('tenants CLI, crash recovery and migrations', () => {
  let t: TestApp;
  let env: Record<string, string | undefined>;
  let token: string;
  let clients: DynamoClients;
  let local: DynamoDbLocal;

  beforeAll(async () => {
    // Its own DynamoDB Local: sharing the run's instance with every other suite, this suite took 178–188 s in two CI
    // rehearsals (25 s in another), close to the migrate test's 180 s timeout.
    local = await DynamoDbLocal.start({ inMemory: true, startTimeoutMs: 90_000 });
    env = testEnv({ DYNAMODB_ENDPOINT: local.endpoint });
    t = await startApp(env);
    token = (await loginOperator(t.url)).accessToken;
    clients = t.app.get(DynamoClients);
  });
  afterAll(async () => {
    await t?.close();
    await local?.stop();
  });

  const cli = (args: string[], extra: Record<string, string> = {}) =>
    runCli(args, { ...env, TENANT_ADMIN_PASSWORD: ADMIN_PASSWORD, ...extra });

  async function tenantBySlug(slug: string): Promise<TenantAttributes> {
    const marker = await clients.doc.send(
      new GetCommand({ TableName: `${t.config.dynamo.tablePrefix}platform`, Key: ControlKeys.slug(slug) }),
    );
    const record = await clients.doc.send(
      new GetCommand({
        TableName: `${t.config.dynamo.tablePrefix}platform`,
        Key: ControlKeys.tenant(marker.Item?.ownerId as string),
      }),
    );
    return record.Item as TenantAttributes;
  }

  async function tableExists(name: string): Promise<boolean> {
    try {
      await clients.ddb.send(new DescribeTableCommand({ TableName: name }));
      return true;
    } catch {
      return false;
    }
  }

  async function adminExists(tenant: TenantAttributes, email: string): Promise<boolean> {
    const marker = await clients.doc.send(
      new GetCommand({ TableName: tenant.tableName, Key: { pk: `EMAIL#${email}`, sk: 'EMAIL' } }),
    );
    return Boolean(marker.Item);
  }

  it('--help lists the commands', async () => {
    const res = await cli(['--help']);
    expect(res.code).toBe(0);
    for (const command of [
      'operator:create',
      'tables:list',
      'tenants:create',
      'tenants:list',
      'tenants:suspend',
      'tenants:resume',
      'tenants:delete',
      'tenants:reconcile',
      'tenants:migrate',
    ]) {
      expect(res.stdout).toContain(command);
    }
  });

  it('creates, lists, suspends, resumes and deletes a tenant through the same services', async () => {
    const slug = uniqueSlug('cli');
    const created = await cli([
      'tenants:create',
      '--name',
      'CLI Co',
      '--slug',
      slug,
      '--admin-email',
      `boss@${slug}.test`,
    ]);
    expect(created.stderr).not.toMatch(/^error:/m);
    expect(created.stdout).toMatch(new RegExp(`^created: [0-9A-Z]{26}\\s+${slug}\\s+active`));
    const listed = await cli(['tenants:list', '--json']);
    expect((JSON.parse(listed.stdout) as Array<{ slug: string }>).map((x) => x.slug)).toContain(slug);
    expect((await cli(['tenants:suspend', slug])).stdout).toContain('suspended');
    const viaApi = await tenantBySlug(slug);
    expect(viaApi.status).toBe('suspended');
    expect((await cli(['tenants:resume', slug])).stdout).toContain('active');
    expect((await cli(['tenants:delete', slug])).code).toBe(1);
    const deleted = await cli(['tenants:delete', slug, '--yes']);
    expect(deleted.stdout).toContain('deleted');
    expect(await tableExists(viaApi.tableName)).toBe(false);
    const tables = await cli(['tables:list']);
    expect(tables.stdout).toContain(`${t.config.dynamo.tablePrefix}platform`);
  });

  it('refuses bad input with one clear line and exit 1', async () => {
    const res = await cli(['tenants:create', '--name', 'X', '--slug', 'Bad Slug', '--admin-email', 'a@b.test']);
    expect(res.code).toBe(1);
    expect(res.stderr).toMatch(/^error: .*slug/m);
    const noPassword = await cli(
      ['tenants:create', '--name', 'X', '--slug', uniqueSlug(), '--admin-email', 'a@b.test'],
      { TENANT_ADMIN_PASSWORD: '' },
    );
    expect(noPassword.code).toBe(1);
    expect(noPassword.stderr).toContain('TENANT_ADMIN_PASSWORD');
  });

  it.each([
    ['record', 'between the record and the table'],
    ['table', 'between the table and the admin user'],
  ])('a run killed after "%s" (%s) is finished by tenants:reconcile', async (step) => {
    const slug = uniqueSlug(`kill-${step}`);
    const email = `boss@${slug}.test`;
    const killed = await cli(['tenants:create', '--name', 'Killed Co', '--slug', slug, '--admin-email', email], {
      TEST_CRASH_POINT: `after-tenant-${step}`,
    });
    expect(killed.signal).toBe('SIGKILL');
    const half = await tenantBySlug(slug);
    expect(half.status).toBe('provisioning');
    expect(await tableExists(half.tableName)).toBe(step === 'table');
    expect(await adminExists(half, email).catch(() => false)).toBe(false);
    // Not usable while half-made: it is not active.
    const seen = await request(t.url).get(`/v1/tenants/${half.id}`).auth(token, { type: 'bearer' }).expect(200);
    expect(seen.body.status).toBe('provisioning');

    const reconciled = await cli(['tenants:reconcile']);
    expect(reconciled.stdout).toContain(`provisioned ${half.id}`);
    const done = await tenantBySlug(slug);
    expect(done.status).toBe('active');
    expect(done.pendingAdmin).toBeUndefined();
    expect(await adminExists(done, email)).toBe(true);
  });

  it('the API boot reconciler finishes a run killed after the roles were seeded', async () => {
    const slug = uniqueSlug('kill-boot');
    const killed = await cli(
      ['tenants:create', '--name', 'Boot Co', '--slug', slug, '--admin-email', `boss@${slug}.test`],
      {
        TEST_CRASH_POINT: 'after-tenant-roles',
      },
    );
    expect(killed.signal).toBe('SIGKILL');
    const second = await startApp({ ...env });
    try {
      let status = '';
      for (let i = 0; i < 40 && status !== 'active'; i++) {
        status = (await tenantBySlug(slug)).status;
        if (status !== 'active') await new Promise((r) => setTimeout(r, 250));
      }
      expect(status).toBe('active');
    } finally {
      await second.close();
    }
  });

  it('tenants:migrate brings v1 and v2 tenant tables to the latest version (no gsi2), with progress, and is a no-op after', async () => {
    const repository = t.app.get(TenantsRepository);
    const provisioner = t.app.get(TenantProvisioner);
    const tables = new TableManager(clients.ddb, { log: () => {}, warn: () => {} });
    const indexes = async (tableName: string) =>
      (await clients.ddb.send(new DescribeTableCommand({ TableName: tableName }))).Table?.GlobalSecondaryIndexes?.map(
        (x) => x.IndexName,
      ).sort();
    const olds: TenantAttributes[] = [];
    for (const schemaVersion of [1, 2]) {
      const id = ulid();
      const now = new Date().toISOString();
      const slug = uniqueSlug(`v${schemaVersion}`);
      const record: TenantAttributes = {
        ...ControlKeys.tenant(id),
        ...ControlKeys.tenantIndex(now, id),
        id,
        slug,
        name: 'Old Co',
        status: 'provisioning',
        tableName: tenantTableName(t.config.dynamo.tablePrefix, id),
        schemaVersion,
        settings: { monthlyTokenQuota: null, retentionDays: null },
        createdAt: now,
        updatedAt: now,
        version: 1,
      };
      expect(await repository.createWithSlug(record)).toBe(true);
      expect((await provisioner.provision(id))?.status).toBe('active');
      if (schemaVersion === 2) {
        // A table of version 2 as it exists in older deployments: with the index gsi2.
        const gsi2 = genericIndex('gsi2');
        await tables.ensureGlobalIndex(record.tableName, gsi2.index, gsi2.attributes);
        expect(await indexes(record.tableName)).toEqual(['gsi1', 'gsi2']);
      } else {
        expect(await indexes(record.tableName)).toEqual(['gsi1']);
      }
      olds.push(record);
    }
    const run = await cli(['tenants:migrate', '--concurrency', '2']);
    expect(run.code).toBe(0);
    for (const old of olds) {
      expect(run.stdout).toMatch(
        new RegExp(`\\[\\d/\\d+\\] ${old.slug} \\(${old.id}\\) v${old.schemaVersion} → v3 ok`),
      );
      expect(await indexes(old.tableName)).toEqual(['gsi1']);
      expect((await clients.ddb.send(new DescribeTableCommand({ TableName: old.tableName }))).Table?.TableStatus).toBe(
        'ACTIVE',
      );
      expect((await repository.get(old.id))?.schemaVersion).toBe(3);
    }
    const again = await cli(['tenants:migrate']);
    expect(again.stdout).toContain('all tenants up to date');
    // The step itself, run again on a table that no longer has the index (a resumed run): nothing to do.
    const dropGsi2 = TENANT_MIGRATIONS.find((m) => m.version === 3);
    await dropGsi2?.apply({ tenantId: olds[1].id, tableName: olds[1].tableName, tables });
    expect(await indexes(olds[1].tableName)).toEqual(['gsi1']);
  }, 180_000); // adding gsi2 to the v2 table waits for DynamoDB Local's backfill, slow on a loaded machine
});
