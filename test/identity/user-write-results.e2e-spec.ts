import { BatchWriteCommand, GetCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import { DynamoClients } from '@lib/dynamo';
import { RequestContext, type ResolvedTenant, TenantRegistry } from '@lib/tenancy';
import { ulid } from 'ulid';
import type { UserRecord } from '@app/users/user.types';
import { UsersRepository } from '@app/users/users.repository';
import { startApp, type TestApp } from '../support/harness';
import { createTenantWithAdmin, createUser, rolesByName, type TenantSession } from '../support/tenants';
import { loginOperator } from '../support/tokens';

/**
 * What UsersRepository reports when its transaction is refused, condition by condition, on DynamoDB Local:
 * the service turns each into its HTTP answer (409 email, 400 role, 409 last owner, 412 version).
 */
describe('users repository: which condition refused a write', () => {
  let t: TestApp;
  let acme: TenantSession;
  let tenant: ResolvedTenant;
  let roles: Record<string, string>;
  let users: UsersRepository;

  /** Runs `fn` in the tenant's scope, as a request of that tenant does. */
  const inTenant = <T>(fn: () => Promise<T>) => RequestContext.runWithTenant(tenant, fn);
  const stored = async (pk: string, sk: string) =>
    (await t.app.get(DynamoClients).doc.send(new GetCommand({ TableName: acme.tableName, Key: { pk, sk } }))).Item;
  const newUser = (overrides: Partial<UserRecord> = {}): UserRecord => {
    const now = new Date().toISOString();
    return {
      id: ulid(),
      email: `${ulid().toLowerCase()}@${acme.slug}.test`,
      name: 'Someone',
      passwordHash: 'not-a-real-hash',
      roleIds: [roles.member],
      disabled: false,
      createdAt: now,
      updatedAt: now,
      version: 1,
      ...overrides,
    };
  };

  beforeAll(async () => {
    t = await startApp();
    const operator = (await loginOperator(t.url)).accessToken;
    acme = await createTenantWithAdmin(t.url, operator);
    roles = await rolesByName(t.url, acme.accessToken);
    tenant = (await t.app.get(TenantRegistry).resolve(acme.tenantId))!;
    users = t.app.get(UsersRepository);
  });
  afterAll(() => t.close());

  it('create: a taken email → email_taken, a missing role → role_missing, the email first when both; else ok', async () => {
    const taken = newUser({ email: acme.adminEmail });
    expect(await inTenant(() => users.create(taken))).toBe('email_taken');
    const missingRole = newUser({ roleIds: [ulid()] });
    expect(await inTenant(() => users.create(missingRole))).toBe('role_missing');
    // The marker's item comes before the roles' counters: the first refused condition names the result.
    expect(await inTenant(() => users.create(newUser({ email: acme.adminEmail, roleIds: [ulid()] })))).toBe(
      'email_taken',
    );
    for (const refused of [taken, missingRole]) expect(await stored(`USER#${refused.id}`, 'USER')).toBeUndefined();
    const fine = newUser();
    expect(await inTenant(() => users.create(fine))).toBe('ok');
    expect(await stored(`USER#${fine.id}`, 'USER')).toMatchObject({ id: fine.id, version: 1 });
  });

  it('update: a stale version → version; the last enabled owner leaving the owner role → last_owner', async () => {
    const member = await createUser(t.url, acme.accessToken, acme.slug, [roles.member]);
    const current = (await inTenant(() => users.get(member.id)))!;
    const stale = { ...current, version: current.version + 5 };
    expect(await inTenant(() => users.update(stale, { name: 'Late' }, [], new Date().toISOString()))).toBe('version');

    const admin = (await inTenant(() => users.getByEmail(acme.adminEmail)))!;
    const demote = [{ roleId: roles.owner, assigned: -1, enabled: -1, keepOneEnabled: true }];
    expect(await inTenant(() => users.update(admin, { roleIds: [] }, demote, new Date().toISOString()))).toBe(
      'last_owner',
    );
    // A role that is gone, on a change that does not touch the owner role.
    const grant = [{ roleId: ulid(), assigned: 1, enabled: 1, keepOneEnabled: false }];
    expect(await inTenant(() => users.update(current, { name: 'X' }, grant, new Date().toISOString()))).toBe(
      'role_missing',
    );
    expect(await stored(`USER#${member.id}`, 'USER')).toMatchObject({ name: 'User', version: current.version });
    expect(await stored(`USER#${admin.id}`, 'USER')).toMatchObject({ roleIds: [roles.owner], version: admin.version });
  });

  it('delete: a stale version → version, and nothing is deleted', async () => {
    const member = await createUser(t.url, acme.accessToken, acme.slug, [roles.member]);
    const current = (await inTenant(() => users.get(member.id)))!;
    const counters = [{ roleId: roles.member, assigned: -1, enabled: -1, keepOneEnabled: false }];
    expect(await inTenant(() => users.delete({ ...current, version: current.version + 1 }, counters))).toBe('version');
    expect(await stored(`USER#${member.id}`, 'USER')).toMatchObject({ id: member.id });
    expect(await stored(`EMAIL#${member.email}`, 'EMAIL')).toMatchObject({ ownerId: member.id });
    expect(await inTenant(() => users.delete(current, counters))).toBe('ok');
    expect(await stored(`USER#${member.id}`, 'USER')).toBeUndefined();
  });

  it("delete: every item of the user's partition goes, over several pages and batches; another user's stays", async () => {
    const doc = t.app.get(DynamoClients).doc;
    const partition = async (pk: string) =>
      (
        await doc.send(
          new QueryCommand({
            TableName: acme.tableName,
            KeyConditionExpression: 'pk = :pk',
            ExpressionAttributeValues: { ':pk': pk },
            ConsistentRead: true,
          }),
        )
      ).Items ?? [];
    const sessions = async (userId: string, count: number) => {
      for (let i = 0; i < count; i += 25) {
        const items = Array.from({ length: Math.min(25, count - i) }, () => ({
          PutRequest: { Item: { pk: `USER#${userId}`, sk: `SESSION#${ulid()}`, userId, revoked: false } },
        }));
        await doc.send(new BatchWriteCommand({ RequestItems: { [acme.tableName]: items } }));
      }
    };
    const member = await createUser(t.url, acme.accessToken, acme.slug, [roles.member]);
    const other = await createUser(t.url, acme.accessToken, acme.slug, [roles.member]);
    // The user, their login's session and 230 more: three query pages of 100, batches that do not line up.
    await sessions(member.id, 230);
    await sessions(other.id, 3);
    expect(await partition(`USER#${member.id}`)).toHaveLength(232);

    const current = (await inTenant(() => users.get(member.id)))!;
    const counters = [{ roleId: roles.member, assigned: -1, enabled: -1, keepOneEnabled: false }];
    expect(await inTenant(() => users.delete(current, counters))).toBe('ok');
    expect(await partition(`USER#${member.id}`)).toEqual([]);
    expect(await partition(`USER#${other.id}`)).toHaveLength(5);
  });
});
