import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateKeyPairSync } from 'node:crypto';
import { ConfigError } from './config.errors';
import { parseDurationSeconds } from './duration';
import { loadConfig } from './load-config';

const SECRET = 's'.repeat(40);
const KEY_A = Buffer.alloc(32, 1).toString('base64');
const KEY_B = Buffer.alloc(32, 2).toString('base64url');
const base = {
  NODE_ENV: 'test',
  JWT_SECRET: SECRET,
  BOOTSTRAP_OPERATOR_EMAIL: 'op@example.com',
  BOOTSTRAP_OPERATOR_PASSWORD: 'a long enough password',
};

function errorOf(env: Record<string, string | undefined>): ConfigError {
  try {
    loadConfig(env, tmpdir());
  } catch (error) {
    if (error instanceof ConfigError) return error;
    throw error;
  }
  throw new Error('expected a ConfigError');
}

describe('loadConfig', () => {
  it('applies the documented defaults', () => {
    const c = loadConfig(base, tmpdir());
    expect(c.port).toBe(3000);
    expect(c.host).toBe('0.0.0.0');
    expect(c.dynamo).toMatchObject({ region: 'us-east-1', tablePrefix: 'chat-', timeoutMs: 3000, embedded: true });
    expect(c.jwt).toMatchObject({
      algorithm: 'HS256',
      issuer: 'chat-platform',
      audience: 'chat-platform',
      accessTtlSeconds: 900,
      refreshTtlSeconds: 2_592_000,
    });
    expect(c.bodyLimitBytes).toBe(1_048_576);
    expect(c.shutdownGraceMs).toBe(10_000);
    expect(c.shutdownDrainMs).toBe(1_000);
    expect(loadConfig({ ...base, SHUTDOWN_GRACE_MS: '300' }, tmpdir()).shutdownDrainMs).toBe(300);
    expect(loadConfig({ ...base, SHUTDOWN_DRAIN_MS: '8000' }, tmpdir()).shutdownDrainMs).toBe(8_000);
    expect(c.llm.provider).toBe('echo');
    expect(c.docsEnabled).toBe(true);
    expect(c.refreshGrace.seconds).toBe(5);
    expect(loadConfig({ ...base, REFRESH_REUSE_GRACE: '0' }, tmpdir()).refreshGrace.seconds).toBe(0);
  });

  it.each([
    ['PORT', { PORT: 'eighty' }],
    ['PORT', { PORT: '70000' }],
    ['DYNAMODB_ENDPOINT', { DYNAMODB_ENDPOINT: 'not a url' }],
    ['DYNAMODB_TIMEOUT_MS', { DYNAMODB_TIMEOUT_MS: '-1' }],
    ['AWS_REGION', { AWS_REGION: 'mars' }],
    ['TABLE_PREFIX', { TABLE_PREFIX: 'bad prefix!' }],
    ['JWT_SECRET', { JWT_SECRET: 'short' }],
    ['ACCESS_TOKEN_TTL', { ACCESS_TOKEN_TTL: '15 minutes' }],
    ['REFRESH_TOKEN_TTL', { ACCESS_TOKEN_TTL: '1d', REFRESH_TOKEN_TTL: '1h' }],
    ['LOG_LEVEL', { LOG_LEVEL: 'loud' }],
    ['BOOTSTRAP_OPERATOR_EMAIL', { BOOTSTRAP_OPERATOR_EMAIL: 'nope' }],
    ['BOOTSTRAP_OPERATOR_PASSWORD', { BOOTSTRAP_OPERATOR_PASSWORD: 'short' }],
    ['LLM_PROVIDER', { LLM_PROVIDER: 'magic' }],
    ['LLM_MODEL', { LLM_PROVIDER: 'openai' }],
    ['LLM_API_KEY', { LLM_PROVIDER: 'openai', LLM_MODEL: 'gpt-4o-mini' }],
    ['JWT_PUBLIC_KEY', { JWT_PRIVATE_KEY: 'x' }],
    ['METRICS_TOKEN', { METRICS_TOKEN: 'short' }],
    ['SHUTDOWN_DRAIN_MS', { SHUTDOWN_DRAIN_MS: 'soon' }],
    ['SHUTDOWN_DRAIN_MS', { SHUTDOWN_GRACE_MS: '5000', SHUTDOWN_DRAIN_MS: '6000' }],
    ['REFRESH_REUSE_GRACE', { REFRESH_REUSE_GRACE: 'a while' }],
    ['REFRESH_REUSE_GRACE', { REFRESH_REUSE_GRACE: '2m' }],
    ['TEST_CRASH_POINT', { TEST_CRASH_POINT: 'after-everything' }],
    ['SECRETS_KEYS', { SECRETS_KEYS: 'k1' }],
    ['SECRETS_KEYS', { SECRETS_KEYS: `k1:${Buffer.alloc(16).toString('base64')}` }],
    ['SECRETS_KEYS', { SECRETS_KEYS: `k1:${KEY_A},k1:${KEY_B}` }],
    ['SECRETS_KEYS', { SECRETS_KEYS: `bad kid:${KEY_A}` }],
    ['SECRETS_KEYS', { SECRETS_KEYS: `k1:not*base64` }],
  ])('names %s when it is bad', (variable, env) => {
    const error = errorOf({ ...base, ...env });
    expect(error.variable).toBe(variable);
    expect(error.message.startsWith(`${variable}: `)).toBe(true);
  });

  it.each([
    ['TEST_CRASH_POINT', 'after-user-message'],
    ['DYNAMODB_FAULTS', 'GetItem=ThrottlingException'],
  ])('refuses the test-only %s outside NODE_ENV=test', (variable, value) => {
    for (const NODE_ENV of ['development', 'production']) {
      const error = errorOf({ ...base, NODE_ENV, [variable]: value });
      expect(error.variable).toBe(variable);
      expect(error.message).toContain('test-only');
    }
  });

  it('arms a crash point under NODE_ENV=test only when one is named', () => {
    expect(loadConfig(base, tmpdir()).crashPoint).toBeUndefined();
    expect(loadConfig({ ...base, TEST_CRASH_POINT: 'after-tenant-table' }, tmpdir()).crashPoint).toBe(
      'after-tenant-table',
    );
  });

  it('requires secrets and the bootstrap operator in production', () => {
    expect(errorOf({ NODE_ENV: 'production' }).variable).toBe('JWT_SECRET');
    expect(errorOf({ NODE_ENV: 'production', JWT_SECRET: SECRET }).variable).toBe('BOOTSTRAP_OPERATOR_EMAIL');
    expect(errorOf({ ...base, NODE_ENV: 'production' }).variable).toBe('SECRETS_KEYS');
    const prod = loadConfig({ ...base, NODE_ENV: 'production', SECRETS_KEYS: `k1:${KEY_A}` }, tmpdir());
    expect(prod.dynamo.embedded).toBe(false);
    expect(prod.docsEnabled).toBe(false);
  });

  it('reads the keyring from SECRETS_KEYS (the first seals, every key opens) and never names key material', () => {
    const rotated = loadConfig({ ...base, SECRETS_KEYS: `k2:${KEY_B}, k1:${KEY_A}` }, tmpdir()).secrets;
    const old = loadConfig({ ...base, SECRETS_KEYS: `k1:${KEY_A}` }, tmpdir()).secrets;
    expect(rotated.currentKid).toBe('k2');
    expect(rotated.open(old.seal('sk-1', 'aad'), 'aad')).toBe('sk-1');
    expect(errorOf({ ...base, SECRETS_KEYS: `k1:${KEY_A.slice(0, 20)}` }).message).not.toContain(KEY_A.slice(0, 20));
    // Without SECRETS_KEYS outside production: derived from JWT_SECRET, the same on every instance.
    const a = loadConfig(base, tmpdir()).secrets;
    expect(loadConfig(base, tmpdir()).secrets.open(a.seal('x', 'aad'), 'aad')).toBe('x');
  });

  it('generates development secrets once, keeps them, and reports them once', () => {
    const dir = mkdtempSync(join(tmpdir(), 'cfg-'));
    try {
      const first = loadConfig({ NODE_ENV: 'development', DATA_DIR: dir }, '/');
      expect(first.generatedNotices.join('\n')).toContain(first.bootstrapOperator.password);
      const stored = JSON.parse(readFileSync(join(dir, 'dev-secrets.json'), 'utf8')) as { operatorPassword: string };
      expect(stored.operatorPassword).toBe(first.bootstrapOperator.password);
      const second = loadConfig({ NODE_ENV: 'development', DATA_DIR: dir }, '/');
      expect(second.generatedNotices).toEqual([]);
      expect(second.bootstrapOperator.password).toBe(first.bootstrapOperator.password);
      expect(second.jwt.kid).toBe(first.jwt.kid);
      expect(second.secrets.open(first.secrets.seal('sk-dev', 'aad'), 'aad')).toBe('sk-dev');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('adds the secrets key to a development secrets file written before it, keeping the other secrets', () => {
    const dir = mkdtempSync(join(tmpdir(), 'cfg-'));
    try {
      const file = join(dir, 'dev-secrets.json');
      const old = {
        jwtSecret: 'j'.repeat(48),
        cursorSecret: 'c'.repeat(48),
        operatorEmail: 'o@x.test',
        operatorPassword: 'p'.repeat(24),
      };
      writeFileSync(file, JSON.stringify(old));
      const first = loadConfig({ NODE_ENV: 'development', DATA_DIR: dir }, '/');
      const stored = JSON.parse(readFileSync(file, 'utf8')) as Record<string, string>;
      expect(stored).toMatchObject(old);
      expect(Buffer.from(stored.secretsKey, 'base64')).toHaveLength(32);
      expect(first.secrets.currentKid).toBe('dev');
      const second = loadConfig({ NODE_ENV: 'development', DATA_DIR: dir }, '/');
      expect(second.secrets.open(first.secrets.seal('sk-dev', 'aad'), 'aad')).toBe('sk-dev');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('accepts a matching ES256 key pair and refuses a mismatched one', () => {
    const a = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const b = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const pem = (k: typeof a) => ({
      JWT_PRIVATE_KEY: k.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
      JWT_PUBLIC_KEY: k.publicKey.export({ type: 'spki', format: 'pem' }).toString(),
    });
    const ok = loadConfig({ ...base, JWT_SECRET: undefined, CURSOR_SECRET: SECRET, ...pem(a) }, tmpdir());
    expect(ok.jwt.algorithm).toBe('ES256');
    const mismatched = {
      ...base,
      JWT_SECRET: undefined,
      CURSOR_SECRET: SECRET,
      ...pem(a),
      JWT_PUBLIC_KEY: pem(b).JWT_PUBLIC_KEY,
    };
    expect(errorOf(mismatched).variable).toBe('JWT_PUBLIC_KEY');
  });
});

describe('parseDurationSeconds', () => {
  it.each([
    ['900', 900],
    ['45s', 45],
    ['15m', 900],
    ['12h', 43200],
    ['30d', 2_592_000],
  ])('%s → %d', (input, seconds) => expect(parseDurationSeconds(input)).toBe(seconds));

  it.each(['', '0', '-5m', '15 minutes', '1w', 'm'])('refuses %p', (input) =>
    expect(parseDurationSeconds(input)).toBeUndefined(),
  );
});
