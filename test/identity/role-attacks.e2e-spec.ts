import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { DynamoClients } from '@lib/dynamo';
import request from 'supertest';
import { startApp, type TestApp } from '../support/harness';
import { createTenantWithAdmin, createUser, rolesByName, type TenantSession } from '../support/tenants';
import { loginOperator } from '../support/tokens';

interface Role {
  id: string;
  name: string;
  description: string;
  permissions: string[];
  builtIn: boolean;
  createdAt: string;
  updatedAt: string;
}

/**
 * Demotion through a shared role: a role manager (`roles:write`) who lacks a permission that a custom role grants
 * must not be able to strip, rename, re-describe or delete that role, because every holder of the role would be
 * changed with it (the same thing they are refused when they edit a more privileged user directly).
 */
describe('role attacks: changing a role that grants what the caller lacks', () => {
  let t: TestApp;
  let acme: TenantSession;
  let roles: Record<string, string>;
  let counter = 0;
  const api = () => request(t.url);
  const roleName = (base: string) => `${base}-${process.pid}-${++counter}`;
  const stored = async (id: string) =>
    (
      await t.app
        .get(DynamoClients)
        .doc.send(new GetCommand({ TableName: acme.tableName, Key: { pk: `ROLE#${id}`, sk: 'ROLE' } }))
    ).Item;
  const getRole = async (id: string, token = acme.accessToken) =>
    (await api().get(`/v1/roles/${id}`).auth(token, { type: 'bearer' }).expect(200)).body as Role;
  const createRole = async (body: Record<string, unknown>, token = acme.accessToken) =>
    (await api().post('/v1/roles').auth(token, { type: 'bearer' }).send(body).expect(201)).body as Role;

  let managers: Role;
  let manager: { id: string; accessToken: string };

  beforeAll(async () => {
    t = await startApp({ LOGIN_MAX_FAILURES_PER_IP: '10000' });
    const operator = (await loginOperator(t.url)).accessToken;
    acme = await createTenantWithAdmin(t.url, operator);
    roles = await rolesByName(t.url, acme.accessToken);
    // The attacker: may manage roles, and read users, but not read other people's chats.
    managers = await createRole({ name: roleName('role-managers'), permissions: ['roles:read', 'roles:write'] });
    manager = await createUser(t.url, acme.accessToken, acme.slug, [managers.id, roles.member]);
  });
  afterAll(() => t.close());

  it('a custom role granting chats:read:any (which the manager lacks): PATCH and DELETE → 403, role unchanged', async () => {
    const auditors = await createRole({
      name: roleName('auditors'),
      description: 'Read every chat',
      permissions: ['chats:read', 'chats:read:any', 'roles:write'],
    });
    const auditor = await createUser(t.url, acme.accessToken, acme.slug, [auditors.id]);
    const before = await getRole(auditors.id);
    const storedBefore = await stored(auditors.id);

    const attempts: Array<[string, Record<string, unknown>]> = [
      ['empty the permissions', { permissions: [] }],
      ['drop only the permission the manager lacks', { permissions: ['chats:read', 'roles:write'] }],
      ['rename', { name: roleName('renamed') }],
      ['change the description', { description: 'nothing to see' }],
      ['keep everything and add one the manager holds', { permissions: [...auditors.permissions, 'roles:read'] }],
    ];
    for (const [what, body] of attempts) {
      const res = await api()
        .patch(`/v1/roles/${auditors.id}`)
        .auth(manager.accessToken, { type: 'bearer' })
        .send(body);
      expect({ what, status: res.status }).toEqual({ what, status: 403 });
      expect(res.headers['content-type']).toContain('application/problem+json');
      expect(res.body.detail).toContain('chats:read:any');
    }
    const del = await api().delete(`/v1/roles/${auditors.id}`).auth(manager.accessToken, { type: 'bearer' });
    expect(del.status).toBe(403);
    expect(del.body.detail).toContain('chats:read:any');

    // The admin reads it back unchanged; the stored item did not move a version.
    expect(await getRole(auditors.id)).toEqual(before);
    expect(await stored(auditors.id)).toEqual(storedBefore);
    // Its holder still holds what it grants.
    const me = await api().get('/v1/me').auth(auditor.accessToken, { type: 'bearer' }).expect(200);
    expect(me.body.permissions).toEqual(expect.arrayContaining(['chats:read:any']));

    // The owner, who holds every permission, may still change it.
    await api()
      .patch(`/v1/roles/${auditors.id}`)
      .auth(acme.accessToken, { type: 'bearer' })
      .send({ description: 'Read every chat (audit)' })
      .expect(200);
    expect((await getRole(auditors.id)).description).toBe('Read every chat (audit)');
  });

  it('DELETE of an unassigned role that grants what the manager lacks → 403; the role stays', async () => {
    const exporters = await createRole({ name: roleName('exporters'), permissions: ['usage:read'] });
    const res = await api().delete(`/v1/roles/${exporters.id}`).auth(manager.accessToken, { type: 'bearer' });
    expect(res.status).toBe(403);
    expect(res.body.detail).toContain('usage:read');
    expect(await getRole(exporters.id)).toEqual(exporters);
    // The owner may delete it.
    await api().delete(`/v1/roles/${exporters.id}`).auth(acme.accessToken, { type: 'bearer' }).expect(204);
    expect(await stored(exporters.id)).toBeUndefined();
  });

  it('a role within the manager’s own permissions stays theirs to change and delete', async () => {
    const readers = await createRole(
      { name: roleName('role-readers'), permissions: ['roles:read'] },
      manager.accessToken,
    );
    await api()
      .patch(`/v1/roles/${readers.id}`)
      .auth(manager.accessToken, { type: 'bearer' })
      .send({ name: roleName('role-readers'), description: 'read roles', permissions: ['roles:read', 'roles:write'] })
      .expect(200);
    // Widening beyond their own set is refused, as before.
    await api()
      .patch(`/v1/roles/${readers.id}`)
      .auth(manager.accessToken, { type: 'bearer' })
      .send({ permissions: ['roles:read', 'users:read'] })
      .expect(403);
    await api().delete(`/v1/roles/${readers.id}`).auth(manager.accessToken, { type: 'bearer' }).expect(204);
    expect(await stored(readers.id)).toBeUndefined();
  });
});
