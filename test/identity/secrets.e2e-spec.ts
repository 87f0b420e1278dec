import { Logger } from '@nestjs/common';
import { GetCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { SecretBox } from '@lib/config';
import { ControlKeys, controlTableName, DynamoClients, type TenantAttributes } from '@lib/dynamo';
import { TenantRegistry, tenantLlmKeyAad } from '@lib/tenancy';
import request from 'supertest';
import { runCli } from '../support/cli';
import { type FakeOpenAi, startFakeOpenAi } from '../support/fake-openai';
import { startApp, testEnv, type TestApp } from '../support/harness';
import { createTenantWithAdmin, createUser, rolesByName, type TenantSession } from '../support/tenants';
import { loginOperator } from '../support/tokens';

const KEY_1 = Buffer.alloc(32, 0x11);
const KEY_2 = Buffer.alloc(32, 0x22);
const keyring = (...keys: Array<[string, Buffer]>) =>
  keys.map(([kid, key]) => `${kid}:${key.toString('base64')}`).join(',');

/**
 * Tenant LLM API keys at rest (README "Secrets"): sealed in the control table, never returned by any tenant
 * route, opened for the provider call, re-sealed by `secrets:rotate`, and a key the keyring cannot open fails
 * loudly rather than falling back to the deployment's key.
 */
describe('secrets at rest: tenant LLM API keys', () => {
  let t: TestApp;
  let env: Record<string, string | undefined>;
  let operator: string;
  let clients: DynamoClients;
  let fake: FakeOpenAi;
  const api = () => request(t.url);

  beforeAll(async () => {
    // The deployment's own key differs from every tenant's: a fallback to it would show in the header.
    env = testEnv({
      SECRETS_KEYS: keyring(['k1', KEY_1]),
      LLM_PROVIDER: 'openai',
      LLM_MODEL: 'deployment-model',
      LLM_API_KEY: 'sk-deployment-key',
      CHANGE_FEED_POLL_MS: '100',
      CHAT_MESSAGES_PER_MINUTE_PER_USER: '1000',
    });
    fake = await startFakeOpenAi({ chunks: ['ok'] });
    env.LLM_BASE_URL = fake.url;
    t = await startApp(env);
    operator = (await loginOperator(t.url)).accessToken;
    clients = t.app.get(DynamoClients);
  });
  afterAll(async () => {
    await t?.close();
    await fake?.close();
  });

  const record = async (id: string) =>
    (
      await clients.doc.send(
        new GetCommand({
          TableName: controlTableName(t.config.dynamo.tablePrefix),
          Key: ControlKeys.tenant(id),
          ConsistentRead: true,
        }),
      )
    ).Item as TenantAttributes;

  const setKey = (id: string, apiKey: string) =>
    api()
      .patch(`/v1/tenants/${id}`)
      .auth(operator, { type: 'bearer' })
      .send({ settings: { llm: { provider: 'openai', baseUrl: fake.url, model: 'fake-model', apiKey } } })
      .expect(200);

  /** A member of the tenant with a chat; `say` posts a message and returns the response. */
  async function chatter(tenant: TenantSession) {
    const roles = await rolesByName(t.url, tenant.accessToken);
    const member = await createUser(t.url, tenant.accessToken, tenant.slug, [roles.member]);
    const chat = await api().post('/v1/chats').auth(member.accessToken, { type: 'bearer' }).send({}).expect(201);
    return {
      say: (content: string) =>
        api()
          .post(`/v1/chats/${chat.body.id as string}/messages`)
          .auth(member.accessToken, { type: 'bearer' })
          .send({ content }),
    };
  }

  /** The Authorization header of the fake's last request. */
  const lastAuthorization = () => fake.headers.at(-1)?.authorization;

  it('stores the key sealed for its tenant; no tenant route returns it; the chat uses it', async () => {
    const tenant = await createTenantWithAdmin(t.url, operator);
    const plaintext = 'sk-tenant-a-secret-key';
    const patched = await setKey(tenant.tenantId, plaintext);

    const stored = (await record(tenant.tenantId)).settings.llm?.apiKey ?? '';
    expect(stored).toMatch(/^v1:k1:/);
    expect(JSON.stringify(await record(tenant.tenantId))).not.toContain(plaintext);
    // It opens for this tenant's record only.
    const box = new SecretBox([{ kid: 'k1', key: KEY_1 }]);
    expect(box.open(stored, tenantLlmKeyAad(tenant.tenantId))).toBe(plaintext);
    expect(() => box.open(stored, tenantLlmKeyAad('01ARZ3NDEKTSV4RRFFQ69G5FAV'))).toThrow();

    const responses = [
      patched,
      await api().get(`/v1/tenants/${tenant.tenantId}`).auth(operator, { type: 'bearer' }).expect(200),
      await api().get('/v1/tenants').query({ limit: 100 }).auth(operator, { type: 'bearer' }).expect(200),
      await api()
        .patch(`/v1/tenants/${tenant.tenantId}`)
        .auth(operator, { type: 'bearer' })
        .send({ name: 'Renamed' })
        .expect(200),
    ];
    for (const res of responses) {
      expect(res.text).not.toContain(plaintext);
      expect(res.text).not.toContain(stored.split(':')[2]);
      expect(res.text).not.toMatch(/v1:k1:/);
    }
    expect(responses[1].body.settings.llm).toEqual({
      provider: 'openai',
      baseUrl: fake.url,
      model: 'fake-model',
      apiKeySet: true,
    });

    const { say } = await chatter(tenant);
    const reply = await say('hello');
    expect(reply.status).toBe(201);
    expect(lastAuthorization()).toBe(`Bearer ${plaintext}`);

    // The remaining tenant routes: usage, and the record a deletion answers with.
    const last = [
      await api().get(`/v1/tenants/${tenant.tenantId}/usage`).auth(operator, { type: 'bearer' }).expect(200),
      await api().delete(`/v1/tenants/${tenant.tenantId}`).auth(operator, { type: 'bearer' }),
    ];
    expect(last[1].status).toBeLessThan(300);
    for (const res of last) expect(res.text).not.toMatch(new RegExp(`${plaintext}|v1:k1:`));
  });

  it('rotates every key under the new first key, plaintext ones too, resumably; a key the keyring lacks fails loudly', async () => {
    const sealed = await createTenantWithAdmin(t.url, operator);
    await setKey(sealed.tenantId, 'sk-sealed-under-k1');
    // A key stored before sealing existed: plaintext on the record, still used as it is.
    const legacy = await createTenantWithAdmin(t.url, operator);
    await setKey(legacy.tenantId, 'sk-placeholder');
    await clients.doc.send(
      new UpdateCommand({
        TableName: controlTableName(t.config.dynamo.tablePrefix),
        Key: ControlKeys.tenant(legacy.tenantId),
        UpdateExpression: 'SET settings.llm.apiKey = :plain',
        ExpressionAttributeValues: { ':plain': 'sk-legacy-plaintext' },
      }),
    );
    // As after a restart: the record is read again (the direct write above left no change record).
    t.app.get(TenantRegistry).invalidate(legacy.tenantId);
    const legacyChat = await chatter(legacy);
    await until(async () => {
      expect((await legacyChat.say('legacy')).status).toBe(201);
      expect(lastAuthorization()).toBe('Bearer sk-legacy-plaintext');
    });

    const rotateEnv = { ...env, SECRETS_KEYS: keyring(['k2', KEY_2], ['k1', KEY_1]) };
    const first = await runCli(['secrets:rotate'], rotateEnv);
    expect(first.code).toBe(0);
    expect(first.stdout).toContain(`${sealed.slug} (${sealed.tenantId}) resealed (k1 → k2)`);
    expect(first.stdout).toContain(`${legacy.slug} (${legacy.tenantId}) resealed (plaintext → k2)`);
    const k2Only = new SecretBox([{ kid: 'k2', key: KEY_2 }]);
    for (const [tenant, plaintext] of [
      [sealed, 'sk-sealed-under-k1'],
      [legacy, 'sk-legacy-plaintext'],
    ] as const) {
      const stored = (await record(tenant.tenantId)).settings.llm?.apiKey ?? '';
      expect(stored).toMatch(/^v1:k2:/);
      expect(k2Only.open(stored, tenantLlmKeyAad(tenant.tenantId))).toBe(plaintext);
    }

    // Run again: nothing left to do (resumable).
    const versions = await Promise.all([sealed, legacy].map(async (x) => (await record(x.tenantId)).version));
    const second = await runCli(['secrets:rotate'], rotateEnv);
    expect(second.code).toBe(0);
    expect(second.stdout).toMatch(/secrets:rotate: 0 resealed, \d+ up to date, 0 failed \(key k2\)/);
    expect(await Promise.all([sealed, legacy].map(async (x) => (await record(x.tenantId)).version))).toEqual(versions);

    // This API's keyring holds k1 only: to it, k2 is a removed key. The change feed drops its cached settings,
    // and the chat fails with a clear log and a 503, never with the deployment's key.
    const errors = jest.spyOn(Logger.prototype, 'error');
    try {
      await until(async () => expect((await legacyChat.say('after rotation')).status).toBe(503));
      const sent = fake.requests.length;
      const res = await legacyChat.say('once more');
      expect(res.status).toBe(503);
      expect(res.body.detail).toMatch(/LLM credentials cannot be read/);
      expect(res.text).not.toMatch(/k2|sk-/);
      expect(fake.requests.length).toBe(sent);
      const logged = errors.mock.calls.map((c) => String(c[0]));
      expect(logged.some((m) => m.includes(legacy.tenantId) && m.includes('"k2"') && m.includes('SECRETS_KEYS'))).toBe(
        true,
      );
    } finally {
      errors.mockRestore();
    }

    // A rotation run by a keyring without the key the value is under reports the tenant and exits 1.
    const broken = await runCli(['secrets:rotate'], { ...env, SECRETS_KEYS: keyring(['k3', Buffer.alloc(32, 3)]) });
    expect(broken.code).toBe(1);
    expect(broken.stdout).toContain(`${legacy.slug} (${legacy.tenantId}) FAILED:`);
    expect(broken.stdout).toContain('"k2"');
    expect((await record(legacy.tenantId)).settings.llm?.apiKey).toMatch(/^v1:k2:/);
  });
});

/** Re-runs `check` until it passes (the change feed reaches this instance within its poll interval). */
async function until(check: () => Promise<void>, attempts = 50): Promise<void> {
  for (let i = 1; ; i++) {
    try {
      await check();
      return;
    } catch (error) {
      if (i >= attempts) throw error;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}
