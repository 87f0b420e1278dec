/**
 * Built-in roles take their permissions from the code, not from the item stored when the tenant was created: a
 * tenant created before a catalogue addition (simulated by rewriting its stored owner/admin items to the older
 * list) still grants the new permission to its owners and admins, and shows it.
 */
import { UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { Permission } from '@lib/auth';
import { DynamoClients, TenantKeys } from '@lib/dynamo';
import request from 'supertest';
import { startApp, type TestApp, uniquePrefix } from '../support/harness';
import { createTenantWithAdmin, rolesByName, type TenantSession } from '../support/tenants';
import { loginOperator } from '../support/tokens';

/** The catalogue before `api-keys:manage` was added: what the owner item of an older tenant holds. */
const OLD_OWNER = Object.values(Permission).filter((p) => p !== Permission.ApiKeysManage);
const OLD_ADMIN = OLD_OWNER.filter((p) => p !== Permission.TenantWrite);

interface Role {
  id: string;
  name: string;
  permissions: string[];
  builtIn: boolean;
}

describe('built-in roles of a tenant created before a catalogue addition', () => {
  const env = { TABLE_PREFIX: uniquePrefix() };
  let a: TestApp;
  /** A second instance on the same tables, started after the rewrite: its caches read the old items. */
  let b: TestApp;
  let acme: TenantSession;
  let roles: Record<string, string>;

  beforeAll(async () => {
    a = await startApp(env);
    const operator = (await loginOperator(a.url)).accessToken;
    acme = await createTenantWithAdmin(a.url, operator);
    roles = await rolesByName(a.url, acme.accessToken);
    const doc = a.app.get(DynamoClients).doc;
    for (const [name, permissions] of [
      ['owner', OLD_OWNER],
      ['admin', OLD_ADMIN],
    ] as const) {
      await doc.send(
        new UpdateCommand({
          TableName: acme.tableName,
          Key: TenantKeys.role(roles[name]),
          UpdateExpression: 'SET #p = :p',
          ConditionExpression: 'attribute_exists(pk) AND builtIn = :true',
          ExpressionAttributeNames: { '#p': 'permissions' },
          ExpressionAttributeValues: { ':p': permissions, ':true': true },
        }),
      );
    }
    b = await startApp(env);
  });
  afterAll(async () => {
    await b?.close();
    await a?.close();
  });

  it('the owner can create an API key, and /v1/me lists api-keys:manage', async () => {
    const me = await request(b.url).get('/v1/me').auth(acme.accessToken, { type: 'bearer' }).expect(200);
    expect(me.body.permissions).toContain('api-keys:manage');
    expect(me.body.permissions).toHaveLength(OLD_OWNER.length + 1);

    const created = await request(b.url)
      .post('/v1/api-keys')
      .auth(acme.accessToken, { type: 'bearer' })
      .send({ name: 'ci', roleIds: [roles.member] })
      .expect(201);
    expect(created.body.createdBy).toBe(me.body.id);
  });

  it('GET /v1/roles and GET /v1/roles/{id} show the code’s permissions for owner and admin', async () => {
    const list = await request(b.url).get('/v1/roles').auth(acme.accessToken, { type: 'bearer' }).expect(200);
    const byName = Object.fromEntries((list.body.items as Role[]).map((r) => [r.name, r]));
    expect(byName.owner.permissions).toEqual(expect.arrayContaining([...OLD_OWNER, 'api-keys:manage']));
    expect(byName.admin.permissions).toContain('api-keys:manage');
    expect(byName.admin.permissions).not.toContain('tenant:write');
    expect(byName.member.permissions.sort()).toEqual(['chats:read', 'chats:write']);

    for (const name of ['owner', 'admin']) {
      const one = await request(b.url)
        .get(`/v1/roles/${roles[name]}`)
        .auth(acme.accessToken, { type: 'bearer' })
        .expect(200);
      expect(one.body.permissions).toEqual(byName[name].permissions);
    }
  });
});
