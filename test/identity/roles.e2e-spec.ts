import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { DynamoClients } from '@lib/dynamo';
import request from 'supertest';
import { startApp, type TestApp } from '../support/harness';
import { createTenantWithAdmin, createUser, rolesByName, type TenantSession } from '../support/tenants';
import { loginOperator } from '../support/tokens';

const ULID = /^[0-9A-HJKMNP-TV-Z]{26}$/;
const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;
const ALL_PERMISSIONS = [
  'tenant:read',
  'tenant:write',
  'users:read',
  'users:write',
  'roles:read',
  'roles:write',
  'chats:read',
  'chats:write',
  'chats:read:any',
  'usage:read',
  'audit:read',
  'api-keys:manage',
];

interface Role {
  id: string;
  name: string;
  description: string;
  permissions: string[];
  builtIn: boolean;
  createdAt: string;
  updatedAt: string;
}

describe('roles and the permission catalogue', () => {
  let t: TestApp;
  let operator: string;
  let acme: TenantSession;
  let roles: Record<string, string>;
  let counter = 0;
  const api = () => request(t.url);

  const stored = async (pk: string, sk: string, tableName = acme.tableName) =>
    (await t.app.get(DynamoClients).doc.send(new GetCommand({ TableName: tableName, Key: { pk, sk } }))).Item;
  const roleName = (base: string) => `${base}-${process.pid}-${++counter}`;
  const createRole = (token: string, body: Record<string, unknown>) =>
    api().post('/v1/roles').auth(token, { type: 'bearer' }).send(body);
  const patchRole = (token: string, id: string, body: Record<string, unknown>, ifMatch?: string) => {
    const req = api().patch(`/v1/roles/${id}`).auth(token, { type: 'bearer' });
    if (ifMatch !== undefined) req.set('if-match', ifMatch);
    return req.send(body);
  };
  const listRoles = async (token = acme.accessToken) =>
    (await api().get('/v1/roles').auth(token, { type: 'bearer' }).expect(200)).body.items as Role[];

  beforeAll(async () => {
    // DynamoDB Local runs transactions one at a time: 20 racing ones can take seconds on a busy machine, and the
    // test's default 2 s DynamoDB timeout would turn the slowest into 503s. The races are about winners, not speed.
    t = await startApp({ LOGIN_MAX_FAILURES_PER_IP: '10000', DYNAMODB_TIMEOUT_MS: '15000' });
    operator = (await loginOperator(t.url)).accessToken;
    acme = await createTenantWithAdmin(t.url, operator);
    roles = await rolesByName(t.url, acme.accessToken);
  });
  afterAll(() => t.close());

  it('GET /v1/permissions returns the 12-permission catalogue, each with a description', async () => {
    const res = await api().get('/v1/permissions').auth(acme.accessToken, { type: 'bearer' }).expect(200);
    const catalogue = res.body as Array<{ name: string; description: string }>;
    expect(catalogue.map((p) => p.name).sort()).toEqual([...ALL_PERMISSIONS].sort());
    for (const permission of catalogue) {
      expect(Object.keys(permission).sort()).toEqual(['description', 'name']);
      expect(permission.description).toMatch(/\w{3,}/);
    }
    expect(new Set(catalogue.map((p) => p.description)).size).toBe(ALL_PERMISSIONS.length);
  });

  it('a new tenant has the four built-in roles with their documented permissions', async () => {
    const items = await listRoles();
    expect(items).toHaveLength(4);
    const byName = Object.fromEntries(items.map((r) => [r.name, r]));
    const expected: Record<string, string[]> = {
      owner: ALL_PERMISSIONS,
      admin: ALL_PERMISSIONS.filter((p) => p !== 'tenant:write'),
      member: ['chats:read', 'chats:write'],
      viewer: ['chats:read'],
    };
    for (const [name, permissions] of Object.entries(expected)) {
      expect(byName[name]).toEqual({
        id: expect.stringMatching(ULID),
        name,
        description: expect.any(String),
        permissions: expect.arrayContaining(permissions),
        builtIn: true,
        createdAt: expect.stringMatching(ISO),
        updatedAt: expect.stringMatching(ISO),
      });
      expect(byName[name].permissions).toHaveLength(permissions.length);
    }
    // Counters and keys stay inside.
    expect(JSON.stringify(items)).not.toMatch(/assignedCount|enabledCount|gsi1|"pk"|"version"/);
  });

  it('POST creates a custom role: 201, stored with its name marker, listed and readable with an ETag', async () => {
    const name = roleName('Support Agent');
    const res = await createRole(acme.accessToken, {
      name,
      description: '  Answers tickets  ',
      permissions: ['chats:read', 'users:read'],
    });
    expect(res.status).toBe(201);
    expect(res.headers.etag).toBe('"1"');
    expect(res.body).toEqual({
      id: expect.stringMatching(ULID),
      name,
      description: 'Answers tickets',
      permissions: ['chats:read', 'users:read'],
      builtIn: false,
      createdAt: expect.stringMatching(ISO),
      updatedAt: expect.stringMatching(ISO),
    });

    const got = await api().get(`/v1/roles/${res.body.id}`).auth(acme.accessToken, { type: 'bearer' }).expect(200);
    expect(got.body).toEqual(res.body);
    expect(got.headers.etag).toBe('"1"');
    expect(await listRoles()).toContainEqual(res.body);
    expect(await stored(`ROLE#${res.body.id}`, 'ROLE')).toMatchObject({
      name,
      permissions: ['chats:read', 'users:read'],
      builtIn: false,
      version: 1,
      assignedCount: 0,
    });
    expect(await stored(`ROLENAME#${name.toLowerCase()}`, 'ROLENAME')).toMatchObject({ ownerId: res.body.id });

    // Without a description: an empty one.
    const bare = await createRole(acme.accessToken, { name: roleName('bare'), permissions: [] }).expect(201);
    expect(bare.body).toMatchObject({ description: '', permissions: [] });
  });

  it('an unknown permission (or other bad input) → 400 naming the field; nothing created', async () => {
    const before = await listRoles();
    const name = roleName('bad-perm');
    const cases: Array<[Record<string, unknown>, string]> = [
      [{ name, permissions: ['chats:delete'] }, 'permissions'],
      [{ name, permissions: ['users:read', 'CHATS:READ'] }, 'permissions'],
      [{ name, permissions: 'users:read' }, 'permissions'],
      [{ name, permissions: ['users:read', 'users:read'] }, 'permissions'],
      [{ name }, 'permissions'],
      [{ name: 'x', permissions: [] }, 'name'],
      [{ name: 'no/slashes', permissions: [] }, 'name'],
      [{ name, permissions: [], builtIn: true }, 'builtIn'],
      [{ name, permissions: [], id: '01ARZ3NDEKTSV4RRFFQ69G5FAV' }, 'id'],
      [{ name, permissions: [], version: 3 }, 'version'],
      [{ name, permissions: [], description: 'd'.repeat(501) }, 'description'],
    ];
    for (const [body, field] of cases) {
      const res = await createRole(acme.accessToken, body);
      expect(res.status).toBe(400);
      expect(res.headers['content-type']).toContain('application/problem+json');
      expect(res.body.errors.map((e: { field: string }) => e.field)).toContain(field);
    }
    expect(await listRoles()).toEqual(before);
    expect(await stored(`ROLENAME#${name.toLowerCase()}`, 'ROLENAME')).toBeUndefined();
  });

  it('a taken name, in any letter case (built-in names included) → 409; one role stored', async () => {
    const name = roleName('Auditors');
    const first = await createRole(acme.accessToken, { name, permissions: ['audit:read'] }).expect(201);
    for (const taken of [name, name.toLowerCase(), name.toUpperCase(), 'owner', 'Viewer', 'ADMIN']) {
      const res = await createRole(acme.accessToken, { name: taken, permissions: [] });
      expect(res.status).toBe(409);
      expect(res.body.detail).toBe('role name taken');
    }
    const same = (await listRoles()).filter((r) => r.name.toLowerCase() === name.toLowerCase());
    expect(same).toEqual([first.body]);
    expect((await listRoles()).filter((r) => r.name.toLowerCase() === 'owner')).toHaveLength(1);
  });

  it('20 concurrent creates of the same role name → one 201, 19 × 409', async () => {
    const name = roleName('race');
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        createRole(acme.accessToken, { name: i % 2 ? name : name.toUpperCase(), permissions: ['chats:read'] }),
      ),
    );
    const statuses = results.map((r) => r.status);
    expect(statuses.filter((s) => s === 201)).toHaveLength(1);
    expect(statuses.filter((s) => s === 409)).toHaveLength(19);
    const winner = results.find((r) => r.status === 201)!;
    const same = (await listRoles()).filter((r) => r.name.toLowerCase() === name.toLowerCase());
    expect(same).toEqual([winner.body]);
    expect(await stored(`ROLENAME#${name.toLowerCase()}`, 'ROLENAME')).toMatchObject({ ownerId: winner.body.id });
  });

  it('built-in roles cannot be changed or deleted (403); they stay as they were', async () => {
    const before = await listRoles();
    for (const name of ['owner', 'admin', 'member', 'viewer']) {
      const id = roles[name];
      for (const body of [{ description: 'mine now' }, { permissions: [] }, { name: `${name}-renamed` }]) {
        const res = await patchRole(acme.accessToken, id, body);
        expect(res.status).toBe(403);
        expect(res.body.detail).toBe('built-in roles cannot be changed');
      }
      await patchRole(acme.accessToken, id, { description: 'x' }, '"1"').expect(403);
      const del = await api().delete(`/v1/roles/${id}`).auth(acme.accessToken, { type: 'bearer' }).expect(403);
      expect(del.body.detail).toBe('built-in roles cannot be deleted');
    }
    expect(await listRoles()).toEqual(before);
    expect(await stored(`ROLE#${roles.owner}`, 'ROLE')).toMatchObject({ version: 1, builtIn: true });
  });

  it('DELETE: a role still assigned → 409; once unassigned (or its holder deleted) → 204, then 404', async () => {
    const name = roleName('temps');
    const role = (await createRole(acme.accessToken, { name, permissions: ['chats:read'] }).expect(201)).body as Role;
    const holder = await createUser(t.url, acme.accessToken, acme.slug, [role.id, roles.member]);
    expect(await stored(`ROLE#${role.id}`, 'ROLE')).toMatchObject({ assignedCount: 1 });

    const refused = await api().delete(`/v1/roles/${role.id}`).auth(acme.accessToken, { type: 'bearer' });
    expect(refused.status).toBe(409);
    expect(refused.body.detail).toBe('the role is still assigned to users');
    await api().get(`/v1/roles/${role.id}`).auth(acme.accessToken, { type: 'bearer' }).expect(200);

    // A disabled holder still holds it.
    await api()
      .patch(`/v1/users/${holder.id}`)
      .auth(acme.accessToken, { type: 'bearer' })
      .send({ disabled: true })
      .expect(200);
    await api().delete(`/v1/roles/${role.id}`).auth(acme.accessToken, { type: 'bearer' }).expect(409);

    await api()
      .patch(`/v1/users/${holder.id}`)
      .auth(acme.accessToken, { type: 'bearer' })
      .send({ roleIds: [roles.member] })
      .expect(200);
    expect(await stored(`ROLE#${role.id}`, 'ROLE')).toMatchObject({ assignedCount: 0 });
    await api().delete(`/v1/roles/${role.id}`).auth(acme.accessToken, { type: 'bearer' }).expect(204);
    await api().get(`/v1/roles/${role.id}`).auth(acme.accessToken, { type: 'bearer' }).expect(404);
    await patchRole(acme.accessToken, role.id, { description: 'back?' }).expect(404);
    await api().delete(`/v1/roles/${role.id}`).auth(acme.accessToken, { type: 'bearer' }).expect(404);
    expect((await listRoles()).map((r) => r.id)).not.toContain(role.id);
    expect(await stored(`ROLE#${role.id}`, 'ROLE')).toBeUndefined();
    expect(await stored(`ROLENAME#${name.toLowerCase()}`, 'ROLENAME')).toBeUndefined();
    // A deleted role can no longer be granted; its name is free again.
    const grant = await api()
      .patch(`/v1/users/${holder.id}`)
      .auth(acme.accessToken, { type: 'bearer' })
      .send({ roleIds: [role.id] });
    expect(grant.status).toBe(400);
    await createRole(acme.accessToken, { name, permissions: [] }).expect(201);

    // Deleting the only holder releases a role too.
    const other = (await createRole(acme.accessToken, { name: roleName('solo'), permissions: [] }).expect(201))
      .body as Role;
    const solo = await createUser(t.url, acme.accessToken, acme.slug, [other.id]);
    await api().delete(`/v1/roles/${other.id}`).auth(acme.accessToken, { type: 'bearer' }).expect(409);
    await api().delete(`/v1/users/${solo.id}`).auth(acme.accessToken, { type: 'bearer' }).expect(204);
    await api().delete(`/v1/roles/${other.id}`).auth(acme.accessToken, { type: 'bearer' }).expect(204);
  });

  it('PATCH renames (the old name is free, the new one taken), changes permissions, and honours If-Match', async () => {
    const oldName = roleName('alpha-team');
    const newName = roleName('beta-team');
    const role = (await createRole(acme.accessToken, { name: oldName, permissions: ['chats:read'] }).expect(201))
      .body as Role;

    const renamed = await patchRole(
      acme.accessToken,
      role.id,
      { name: newName, permissions: ['chats:read', 'usage:read'] },
      '"1"',
    ).expect(200);
    expect(renamed.headers.etag).toBe('"2"');
    expect(renamed.body).toEqual({
      ...role,
      name: newName,
      permissions: ['chats:read', 'usage:read'],
      updatedAt: expect.stringMatching(ISO),
    });
    const got = await api().get(`/v1/roles/${role.id}`).auth(acme.accessToken, { type: 'bearer' }).expect(200);
    expect(got.body).toEqual(renamed.body);
    expect(await stored(`ROLENAME#${oldName.toLowerCase()}`, 'ROLENAME')).toBeUndefined();
    expect(await stored(`ROLENAME#${newName.toLowerCase()}`, 'ROLENAME')).toMatchObject({ ownerId: role.id });

    // The old name is free, the new one is taken.
    await createRole(acme.accessToken, { name: oldName, permissions: [] }).expect(201);
    await createRole(acme.accessToken, { name: newName.toUpperCase(), permissions: [] }).expect(409);
    // Renaming onto a taken name (built-in included) → 409, nothing changed.
    await patchRole(acme.accessToken, role.id, { name: oldName }).expect(409);
    await patchRole(acme.accessToken, role.id, { name: 'Owner' }).expect(409);
    // A change of letter case only is allowed.
    await patchRole(acme.accessToken, role.id, { name: newName.toUpperCase() }).expect(200);
    expect(await stored(`ROLE#${role.id}`, 'ROLE')).toMatchObject({ name: newName.toUpperCase(), version: 3 });

    // Stale and concurrent If-Match.
    await patchRole(acme.accessToken, role.id, { description: 'late' }, '"2"').expect(412);
    const both = await Promise.all(
      ['one', 'two'].map((description) => patchRole(acme.accessToken, role.id, { description }, '"3"')),
    );
    expect(both.map((r) => r.status).sort()).toEqual([200, 412]);
    const winner = both.find((r) => r.status === 200)!;
    expect(await stored(`ROLE#${role.id}`, 'ROLE')).toMatchObject({
      description: winner.body.description,
      version: 4,
    });
    // Unknown fields and permissions → 400.
    await patchRole(acme.accessToken, role.id, { builtIn: true }).expect(400);
    await patchRole(acme.accessToken, role.id, { permissions: ['root'] }).expect(400);
    expect(await stored(`ROLE#${role.id}`, 'ROLE')).toMatchObject({ builtIn: false, version: 4 });
  });

  it('escalation: a caller without tenant:write cannot put it into a role (403); nothing created or changed', async () => {
    const deputy = await createUser(t.url, acme.accessToken, acme.slug, [roles.admin]);
    const name = roleName('sneaky');
    const before = await listRoles();
    const res = await createRole(deputy.accessToken, { name, permissions: ['users:read', 'tenant:write'] });
    expect(res.status).toBe(403);
    expect(res.body.detail).toContain('tenant:write');
    expect(await listRoles()).toEqual(before);
    expect(await stored(`ROLENAME#${name.toLowerCase()}`, 'ROLENAME')).toBeUndefined();

    // Nor by PATCH of a role they may otherwise change.
    const mine = (await createRole(deputy.accessToken, { name, permissions: ['users:read'] }).expect(201)).body as Role;
    await patchRole(deputy.accessToken, mine.id, { permissions: ['users:read', 'tenant:write'] }).expect(403);
    expect(await stored(`ROLE#${mine.id}`, 'ROLE')).toMatchObject({ permissions: ['users:read'], version: 1 });

    // A role manager with nothing else cannot hand out what they lack either.
    const managers = (
      await createRole(acme.accessToken, {
        name: roleName('role-managers'),
        permissions: ['roles:read', 'roles:write'],
      })
    ).body as Role;
    const manager = await createUser(t.url, acme.accessToken, acme.slug, [managers.id]);
    await createRole(manager.accessToken, { name: roleName('wide'), permissions: ['users:write'] }).expect(403);
    await createRole(manager.accessToken, { name: roleName('narrow'), permissions: ['roles:read'] }).expect(201);
  });

  it('permissions are resolved from roles: a member given a role with users:read can list users at once', async () => {
    const member = await createUser(t.url, acme.accessToken, acme.slug, [roles.member]);
    const listUsers = () => api().get('/v1/users').auth(member.accessToken, { type: 'bearer' });
    const forbidden = await listUsers().expect(403);
    expect(forbidden.body.detail).toBe('missing permission users:read');

    const readers = (
      await createRole(acme.accessToken, { name: roleName('user-readers'), permissions: ['users:read'] })
    ).body as Role;
    await api()
      .patch(`/v1/users/${member.id}`)
      .auth(acme.accessToken, { type: 'bearer' })
      .send({ roleIds: [roles.member, readers.id] })
      .expect(200);
    // The same access token: permissions come from the roles now, not from the token.
    await listUsers().expect(200);
    const me = await api().get('/v1/me').auth(member.accessToken, { type: 'bearer' }).expect(200);
    expect(me.body.permissions).toEqual(['chats:read', 'chats:write', 'users:read']);
    expect(me.body.roles).toEqual(
      expect.arrayContaining([
        { id: roles.member, name: 'member' },
        { id: readers.id, name: readers.name },
      ]),
    );
    // Still no write access.
    await api()
      .post('/v1/users')
      .auth(member.accessToken, { type: 'bearer' })
      .send({ email: `x@${acme.slug}.test`, name: 'X', password: 'a-fine-long-password', roleIds: [] })
      .expect(403);

    // Changing the role changes every holder at once (this instance).
    await patchRole(acme.accessToken, readers.id, { permissions: [] }).expect(200);
    await listUsers().expect(403);
    await patchRole(acme.accessToken, readers.id, { permissions: ['users:read'] }).expect(200);
    await listUsers().expect(200);
    // Taking the role away as well.
    await api()
      .patch(`/v1/users/${member.id}`)
      .auth(acme.accessToken, { type: 'bearer' })
      .send({ roleIds: [roles.member] })
      .expect(200);
    await listUsers().expect(403);
  });
});
