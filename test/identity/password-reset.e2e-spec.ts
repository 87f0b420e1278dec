import { GetCommand, QueryCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { DynamoClients, Entities } from '@lib/dynamo';
import request from 'supertest';
import { startApp, type TestApp } from '../support/harness';
import { createTenantWithAdmin, createUser, rolesByName, type TenantSession } from '../support/tenants';
import { loginOperator } from '../support/tokens';

const NEW_PASSWORD = 'a-brand-new-password';

interface Member {
  id: string;
  email: string;
  password: string;
  accessToken: string;
  refreshToken: string;
}

/**
 * Password reset: a tenant admin issues a single-use token (POST /v1/users/{id}/password-reset), the user redeems
 * it (POST /v1/auth/password-reset) for a new password, and every session of the user ends.
 */
describe('password reset', () => {
  let t: TestApp;
  let acme: TenantSession;
  let globex: TenantSession;
  let roles: Record<string, string>;
  const api = () => request(t.url);

  beforeAll(async () => {
    t = await startApp({ LOGIN_MAX_FAILURES_PER_IP: '10000' });
    const operator = (await loginOperator(t.url)).accessToken;
    [acme, globex] = await Promise.all([
      createTenantWithAdmin(t.url, operator),
      createTenantWithAdmin(t.url, operator),
    ]);
    roles = await rolesByName(t.url, acme.accessToken);
  });
  afterAll(() => t?.close());

  const issue = (adminToken: string, userId: string) =>
    api().post(`/v1/users/${userId}/password-reset`).auth(adminToken, { type: 'bearer' });
  const redeem = (token: string, newPassword = NEW_PASSWORD) =>
    api().post('/v1/auth/password-reset').send({ token, newPassword });
  const login = (tenant: TenantSession, email: string, password: string) =>
    api().post('/v1/auth/login').send({ tenant: tenant.slug, email, password });
  const member = (tenant = acme, roleIds = [roles.member]): Promise<Member> =>
    createUser(t.url, tenant.accessToken, tenant.slug, roleIds);
  const tokenFor = async (userId: string, admin = acme) =>
    (await issue(admin.accessToken, userId).expect(200)).body.token as string;
  /** The user's reset items, read directly. */
  const resetItems = async (tenant: TenantSession, userId: string) =>
    (
      await t.app.get(DynamoClients).doc.send(
        new QueryCommand({
          TableName: tenant.tableName,
          KeyConditionExpression: 'pk = :pk AND begins_with(sk, :reset)',
          ExpressionAttributeValues: { ':pk': Entities.user.key(userId).pk, ':reset': 'RESET#' },
          ConsistentRead: true,
        }),
      )
    ).Items ?? [];
  const userItem = async (tenant: TenantSession, userId: string) =>
    (
      await t.app
        .get(DynamoClients)
        .doc.send(new GetCommand({ TableName: tenant.tableName, Key: Entities.user.key(userId), ConsistentRead: true }))
    ).Item;

  it('sets the new password, refuses the old one and ends every session; the token is stored hashed', async () => {
    const user = await member();
    const before = Date.now();
    const issued = await issue(acme.accessToken, user.id).expect(200);
    const { token, expiresAt } = issued.body as { token: string; expiresAt: string };
    expect(token).toMatch(new RegExp(`^pwreset\\.${acme.tenantId}\\.${user.id}\\.[0-9A-Z]{26}\\.[\\w-]{43}$`));
    const validFor = Date.parse(expiresAt) - before;
    expect(validFor).toBeGreaterThan(29 * 60_000);
    expect(validFor).toBeLessThanOrEqual(30 * 60_000 + 1000);
    const items = await resetItems(acme, user.id);
    expect(items).toHaveLength(1);
    expect(JSON.stringify(items)).not.toContain(token.split('.').at(-1));

    await redeem(token).expect(204);

    expect((await login(acme, user.email, user.password)).status).toBe(401);
    const fresh = await login(acme, user.email, NEW_PASSWORD).expect(200);
    await api().get('/v1/me').auth(fresh.body.accessToken, { type: 'bearer' }).expect(200);
    await api().post('/v1/auth/refresh').send({ refreshToken: fresh.body.refreshToken }).expect(200);
    // The sessions from before the reset are over: refresh token and access token alike.
    await api().post('/v1/auth/refresh').send({ refreshToken: user.refreshToken }).expect(401);
    await api().get('/v1/me').auth(user.accessToken, { type: 'bearer' }).expect(401);
    expect(await resetItems(acme, user.id)).toEqual([]);
  });

  it('is single use, and redeeming one token voids the others', async () => {
    const user = await member();
    const [first, second] = [await tokenFor(user.id), await tokenFor(user.id)];
    await redeem(first).expect(204);
    const again = await redeem(first, 'yet-another-password');
    expect(again.status).toBe(401);
    expect((await redeem(second, 'yet-another-password')).status).toBe(401);
    await login(acme, user.email, NEW_PASSWORD).expect(200);
  });

  it('redeemed at once by several requests, the token sets one password: one 204, the others 401', async () => {
    const user = await member();
    const token = await tokenFor(user.id);
    const passwords = ['racing-password-1', 'racing-password-2', 'racing-password-3', 'racing-password-4'];
    const statuses = await Promise.all(passwords.map(async (p) => (await redeem(token, p)).status));
    expect(statuses.sort()).toEqual([204, 401, 401, 401]);
    const logins = await Promise.all(passwords.map(async (p) => (await login(acme, user.email, p)).status));
    expect(logins.filter((s) => s === 200)).toHaveLength(1);
  });

  it('refuses an expired token, and leaves the password as it was', async () => {
    const user = await member();
    const token = await tokenFor(user.id);
    // 30 minutes later: the item's expiry moved to the past (DynamoDB's TTL removes items late; it is checked).
    await t.app.get(DynamoClients).doc.send(
      new UpdateCommand({
        TableName: acme.tableName,
        Key: Entities.passwordReset.key(user.id, token.split('.')[3]),
        UpdateExpression: 'SET expiresAt = :past',
        ExpressionAttributeValues: { ':past': Math.floor(Date.now() / 1000) - 1 },
      }),
    );
    const res = await redeem(token);
    expect(res.status).toBe(401);
    expect(res.body.detail).toBe('invalid or expired password reset token');
    await login(acme, user.email, user.password).expect(200);
  });

  it("refuses another tenant's, forged and malformed tokens with the same answer", async () => {
    const victim = await member();
    const other = await member(globex, [(await rolesByName(t.url, globex.accessToken)).member]);
    const theirs = await tokenFor(other.id, globex);
    const [, , , tokenId, secret] = theirs.split('.');
    const attempts = [
      // Globex's genuine token, pointed at Acme's user.
      `pwreset.${acme.tenantId}.${victim.id}.${tokenId}.${secret}`,
      // Acme's user with a token id and secret made up.
      `pwreset.${acme.tenantId}.${victim.id}.${tokenId}.${'A'.repeat(43)}`,
      // A refresh token of the victim (the same shape without the prefix).
      victim.refreshToken,
      `pwreset.${victim.refreshToken}`,
      'pwreset.not-a-token',
    ];
    for (const attempt of attempts) {
      const res = await redeem(attempt);
      expect(res.status).toBe(401);
      expect(res.body.detail).toBe('invalid or expired password reset token');
    }
    await login(acme, victim.email, victim.password).expect(200);
    // Globex's token still works for its own user.
    await redeem(theirs).expect(204);
  });

  it('an admin cannot reset the password of a user holding permissions the admin lacks; a member cannot at all', async () => {
    const admin = await member(acme, [roles.admin]);
    const owner = await member(acme, [roles.owner]);
    const refused = await issue(admin.accessToken, owner.id);
    expect(refused.status).toBe(403);
    expect(refused.body.detail).toContain('tenant:write');
    const plain = await member();
    expect((await issue(plain.accessToken, admin.id)).status).toBe(403);
    expect(await resetItems(acme, owner.id)).toEqual([]);
    // Within their own permissions it works.
    await issue(admin.accessToken, plain.id).expect(200);
  });

  it('a disabled user cannot redeem; a deleted user’s token is useless', async () => {
    const disabled = await member();
    const token = await tokenFor(disabled.id);
    await api()
      .patch(`/v1/users/${disabled.id}`)
      .auth(acme.accessToken, { type: 'bearer' })
      .send({ disabled: true })
      .expect(200);
    const hashBefore = (await userItem(acme, disabled.id))?.passwordHash as string;
    expect((await redeem(token)).status).toBe(401);
    expect((await userItem(acme, disabled.id))?.passwordHash).toBe(hashBefore);

    const deleted = await member();
    const orphan = await tokenFor(deleted.id);
    await api().delete(`/v1/users/${deleted.id}`).auth(acme.accessToken, { type: 'bearer' }).expect(204);
    expect((await redeem(orphan)).status).toBe(401);
    expect(await userItem(acme, deleted.id)).toBeUndefined();
    expect(await resetItems(acme, deleted.id)).toEqual([]);
  });

  it('is throttled like login: guessing tokens is refused with 429 once the budget is spent', async () => {
    const user = await member();
    const [, tenantId, userId, tokenId] = (await tokenFor(user.id)).split('.');
    const guess = (i: number) => `pwreset.${tenantId}.${userId}.${tokenId}.${String(i).padStart(43, 'x')}`;
    const statuses: number[] = [];
    for (let i = 0; i < t.config.loginThrottle.maxFailuresPerAccount + 1; i++)
      statuses.push((await redeem(guess(i))).status);
    expect(statuses.at(-1)).toBe(429);
    expect(statuses.slice(0, -1).every((s) => s === 401)).toBe(true);
  });
});
