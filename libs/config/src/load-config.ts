import { createHash, createHmac, createPrivateKey, createPublicKey, createSecretKey, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { z } from 'zod';
import { AppConfig, type JwtSettings, type NodeEnv } from './app-config';
import { ConfigError } from './config.errors';
import { CRASH_POINTS } from './fault-hooks';
import { type FaultRule, parseFaultRules } from './fault-rules';
import { parseDurationSeconds } from './duration';
import { parseSecretKeys, SECRET_KEY_BYTES, SecretBox, type SecretKey } from './secret-box';

type Env = Record<string, string | undefined>;

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

const int = (min: number, max: number) => z.coerce.number().int().min(min).max(max);
const bool = z.enum(['true', 'false', '1', '0']).transform((v) => v === 'true' || v === '1');
const url = z.url({ protocol: /^https?$/ });
/** Upper bound of REFRESH_REUSE_GRACE. */
const MAX_REFRESH_GRACE_SECONDS = 60;

const secret = z.string().refine((v) => Buffer.byteLength(v, 'utf8') >= 32, 'must be at least 32 bytes');

/** Every variable the API reads, with its default. README and .env.example document the same list. */
const schema = z.object({
  NODE_ENV: z.enum(['development', 'test', 'production']).default('development'),
  HOST: z.string().min(1).default('0.0.0.0'),
  PORT: int(0, 65535).default(3000),
  LOG_LEVEL: z.enum(LOG_LEVELS).default('info'),
  DATA_DIR: z.string().min(1).default('.data'),
  DYNAMODB_ENDPOINT: url.optional(),
  AWS_REGION: z
    .string()
    .regex(/^[a-z]{2}(-[a-z]+)+-\d$/, 'must look like us-east-1')
    .default('us-east-1'),
  TABLE_PREFIX: z
    .string()
    .regex(/^[A-Za-z0-9_.-]{0,64}$/, 'only letters, digits, _ . - (at most 64 characters)')
    .default('chat-'),
  DYNAMODB_TIMEOUT_MS: int(50, 120_000).default(3000),
  DYNAMODB_CONNECT_TIMEOUT_MS: int(50, 60_000).default(1000),
  DYNAMODB_MAX_ATTEMPTS: int(1, 10).default(3),
  DYNAMODB_FAULTS: z.string().optional(),
  TEST_CRASH_POINT: z.enum(CRASH_POINTS).optional(),
  JWT_SECRET: secret.optional(),
  JWT_PRIVATE_KEY: z.string().optional(),
  JWT_PUBLIC_KEY: z.string().optional(),
  JWT_ISSUER: z.string().min(1).default('chat-platform'),
  JWT_AUDIENCE: z.string().min(1).default('chat-platform'),
  ACCESS_TOKEN_TTL: z.string().default('15m'),
  REFRESH_TOKEN_TTL: z.string().default('30d'),
  REFRESH_REUSE_GRACE: z.string().default('5s'),
  CURSOR_SECRET: secret.optional(),
  SECRETS_KEYS: z.string().optional(),
  BOOTSTRAP_OPERATOR_EMAIL: z.email().optional(),
  BOOTSTRAP_OPERATOR_PASSWORD: z.string().min(12, 'must be at least 12 characters').max(256).optional(),
  METRICS_TOKEN: z.string().min(16, 'must be at least 16 characters').optional(),
  BODY_LIMIT_BYTES: int(1024, 64 * 1024 * 1024).default(1_048_576),
  CORS_ORIGINS: z.string().default(''),
  DOCS_ENABLED: bool.optional(),
  SHUTDOWN_GRACE_MS: int(0, 600_000).default(10_000),
  SHUTDOWN_DRAIN_MS: int(0, 600_000).optional(),
  TRUST_PROXY: bool.default(false),
  LOGIN_MAX_FAILURES_PER_ACCOUNT: int(1, 1000).default(5),
  LOGIN_MAX_FAILURES_PER_IP: int(1, 100_000).default(50),
  LOGIN_FAILURE_WINDOW: z.string().default('15m'),
  LLM_PROVIDER: z.enum(['echo', 'openai']).default('echo'),
  LLM_BASE_URL: url.optional(),
  LLM_API_KEY: z.string().min(1).optional(),
  LLM_MODEL: z.string().min(1).optional(),
  LLM_TIMEOUT_MS: int(100, 600_000).default(60_000),
  LLM_CONTEXT_TOKENS: int(256, 2_000_000).default(8000),
  LLM_ECHO_DELAY_MS: int(0, 10_000).default(0),
  GENERATION_MAX_MS: int(1000, 3_600_000).default(300_000),
  GENERATION_FLUSH_MS: int(20, 5000).default(250),
  GENERATION_LEASE_MS: int(1000, 600_000).default(10_000),
  STREAM_POLL_MS: int(20, 5000).default(250),
  CHAT_MESSAGES_PER_MINUTE_PER_USER: int(1, 100_000).default(20),
  CHAT_MESSAGES_PER_MINUTE_PER_TENANT: int(1, 1_000_000).default(600),
  IDEMPOTENCY_LEASE_MS: int(1000, 600_000).default(15_000),
  CHANGE_FEED_POLL_MS: int(50, 10_000).default(1000),
  CHANGE_FEED_OVERLAP_MS: int(1000, 3_600_000).default(30_000),
  REVOCATION_BOUND_MS: int(100, 600_000).default(2000),
  CACHE_LIFETIME: z.string().default('10m'),
  TENANT_CACHE_MAX: int(10, 10_000_000).default(10_000),
  USER_CACHE_MAX: int(10, 10_000_000).default(100_000),
  ROLES_CACHE_MAX: int(10, 10_000_000).default(10_000),
  OPERATOR_CACHE_MAX: int(10, 10_000_000).default(1000),
});
type RawConfig = z.infer<typeof schema>;

/** Empty strings count as unset, as in most .env tooling. */
function clean(env: Env): Env {
  const out: Env = {};
  for (const key of Object.keys(schema.shape)) {
    const value = env[key];
    if (value !== undefined && value.trim() !== '') out[key] = value.trim();
  }
  return out;
}

function parse(env: Env): RawConfig {
  const result = schema.safeParse(clean(env));
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  throw new ConfigError(String(issue.path[0] ?? 'config'), issue.message);
}

function duration(variable: string, value: string): number {
  const seconds = parseDurationSeconds(value);
  if (seconds === undefined) throw new ConfigError(variable, 'must be a duration such as 900, 45s, 15m, 12h or 30d');
  return seconds;
}

interface DevSecrets {
  jwtSecret: string;
  cursorSecret: string;
  operatorEmail: string;
  operatorPassword: string;
  /** Base64 of the development keyring's only key (absent from files written before secrets were sealed). */
  secretsKey: string;
}

const newSecretsKey = () => randomBytes(SECRET_KEY_BYTES).toString('base64');

/**
 * Development only: secrets kept under the data dir so that tokens and the bootstrap operator survive restarts.
 * Returns what was generated this time so that it can be printed once.
 */
function devSecrets(dataDir: string): { secrets: DevSecrets; generated: boolean } {
  const file = join(dataDir, 'dev-secrets.json');
  if (existsSync(file)) {
    const secrets = JSON.parse(readFileSync(file, 'utf8')) as DevSecrets;
    if (secrets.secretsKey) return { secrets, generated: false };
    // A file from before the keyring: the key is added, the other secrets stay.
    secrets.secretsKey = newSecretsKey();
    writeFileSync(file, JSON.stringify(secrets, null, 2) + '\n', { mode: 0o600 });
    return { secrets, generated: false };
  }
  const secrets: DevSecrets = {
    jwtSecret: randomBytes(48).toString('base64url'),
    cursorSecret: randomBytes(48).toString('base64url'),
    operatorEmail: 'operator@localhost.test',
    operatorPassword: randomBytes(18).toString('base64url'),
    secretsKey: newSecretsKey(),
  };
  mkdirSync(dataDir, { recursive: true });
  writeFileSync(file, JSON.stringify(secrets, null, 2) + '\n', { mode: 0o600 });
  return { secrets, generated: true };
}

function jwtSettings(
  raw: RawConfig,
  devSecret: () => string,
): Omit<JwtSettings, 'accessTtlSeconds' | 'refreshTtlSeconds'> {
  const base = { issuer: raw.JWT_ISSUER, audience: raw.JWT_AUDIENCE };
  if (raw.JWT_PRIVATE_KEY || raw.JWT_PUBLIC_KEY) {
    if (!raw.JWT_PRIVATE_KEY) throw new ConfigError('JWT_PRIVATE_KEY', 'is required together with JWT_PUBLIC_KEY');
    if (!raw.JWT_PUBLIC_KEY) throw new ConfigError('JWT_PUBLIC_KEY', 'is required together with JWT_PRIVATE_KEY');
    let signingKey, verifyKey;
    try {
      signingKey = createPrivateKey(raw.JWT_PRIVATE_KEY.replace(/\\n/g, '\n'));
    } catch {
      throw new ConfigError('JWT_PRIVATE_KEY', 'is not a PEM private key');
    }
    try {
      verifyKey = createPublicKey(raw.JWT_PUBLIC_KEY.replace(/\\n/g, '\n'));
    } catch {
      throw new ConfigError('JWT_PUBLIC_KEY', 'is not a PEM public key');
    }
    if (signingKey.asymmetricKeyType !== 'ec' || signingKey.asymmetricKeyDetails?.namedCurve !== 'prime256v1') {
      throw new ConfigError('JWT_PRIVATE_KEY', 'must be an EC P-256 key (ES256)');
    }
    const spki = verifyKey.export({ type: 'spki', format: 'der' });
    if (!createPublicKey(signingKey).export({ type: 'spki', format: 'der' }).equals(spki)) {
      throw new ConfigError('JWT_PUBLIC_KEY', 'does not match JWT_PRIVATE_KEY');
    }
    const kid = createHash('sha256').update(spki).digest('base64url').slice(0, 16);
    return { ...base, algorithm: 'ES256', signingKey, verifyKey, kid };
  }
  const secret = raw.JWT_SECRET ?? devSecret();
  const key = createSecretKey(Buffer.from(secret, 'utf8'));
  const kid = createHmac('sha256', secret).update('kid').digest('base64url').slice(0, 16);
  return { ...base, algorithm: 'HS256', signingKey: key, verifyKey: key, kid };
}

/**
 * The keyring of secrets at rest: SECRETS_KEYS (required in production); otherwise derived from JWT_SECRET when
 * that is set (tests, a development .env), else the development key generated into dev-secrets.json.
 */
function secretKeys(raw: RawConfig, isProduction: boolean, devKey: () => string): SecretKey[] {
  if (raw.SECRETS_KEYS) {
    try {
      return parseSecretKeys(raw.SECRETS_KEYS);
    } catch (error) {
      throw new ConfigError('SECRETS_KEYS', (error as Error).message);
    }
  }
  if (isProduction) throw new ConfigError('SECRETS_KEYS', 'is required in production (kid:<base64 of 32 bytes>)');
  if (raw.JWT_SECRET) return [{ kid: 'jwt', key: createHmac('sha256', raw.JWT_SECRET).update('secrets').digest() }];
  return [{ kid: 'dev', key: Buffer.from(devKey(), 'base64') }];
}

/** The drain after SIGTERM happens inside the grace period: 1 s by default (less when the grace is shorter). */
function drainMs(drain: number | undefined, grace: number): number {
  if (drain === undefined) return Math.min(1_000, grace);
  if (drain > grace) throw new ConfigError('SHUTDOWN_DRAIN_MS', `must not exceed SHUTDOWN_GRACE_MS (${grace})`);
  return drain;
}

/**
 * Reads and validates the configuration. Throws ConfigError naming the first bad variable.
 * In development, missing secrets are generated and kept under DATA_DIR; in production they are required.
 */
export function loadConfig(env: Env = process.env, cwd = process.cwd()): AppConfig {
  const raw = parse(env);
  const nodeEnv: NodeEnv = raw.NODE_ENV;
  const isProduction = nodeEnv === 'production';
  const dataDir = resolve(cwd, raw.DATA_DIR);
  const notices: string[] = [];

  let dev: DevSecrets | undefined;
  const fromDev = <K extends keyof DevSecrets>(key: K, variable: string): string => {
    if (isProduction) throw new ConfigError(variable, 'is required in production');
    if (!dev) {
      const { secrets, generated } = devSecrets(dataDir);
      dev = secrets;
      if (generated) notices.push(`generated development secrets in ${join(dataDir, 'dev-secrets.json')}`);
    }
    return dev[key];
  };

  if (raw.DYNAMODB_FAULTS && nodeEnv !== 'test') {
    throw new ConfigError('DYNAMODB_FAULTS', 'is a test-only setting (NODE_ENV=test)');
  }
  let faults: FaultRule[] = [];
  try {
    faults = raw.DYNAMODB_FAULTS ? parseFaultRules(raw.DYNAMODB_FAULTS) : [];
  } catch (error) {
    throw new ConfigError('DYNAMODB_FAULTS', (error as Error).message);
  }
  if (raw.TEST_CRASH_POINT && nodeEnv !== 'test') {
    throw new ConfigError('TEST_CRASH_POINT', 'is a test-only setting (NODE_ENV=test)');
  }
  if (isProduction && !raw.JWT_SECRET && !raw.JWT_PRIVATE_KEY) {
    throw new ConfigError('JWT_SECRET', 'is required in production (or JWT_PRIVATE_KEY/JWT_PUBLIC_KEY)');
  }
  const jwt = jwtSettings(raw, () => fromDev('jwtSecret', 'JWT_SECRET'));
  const accessTtlSeconds = duration('ACCESS_TOKEN_TTL', raw.ACCESS_TOKEN_TTL);
  const refreshTtlSeconds = duration('REFRESH_TOKEN_TTL', raw.REFRESH_TOKEN_TTL);
  if (refreshTtlSeconds <= accessTtlSeconds) {
    throw new ConfigError('REFRESH_TOKEN_TTL', 'must be longer than ACCESS_TOKEN_TTL');
  }
  // Within the grace a rotated-out token is honoured (once more, for its successor): keep it short.
  const refreshGraceSeconds =
    raw.REFRESH_REUSE_GRACE === '0' ? 0 : duration('REFRESH_REUSE_GRACE', raw.REFRESH_REUSE_GRACE);
  if (refreshGraceSeconds > MAX_REFRESH_GRACE_SECONDS) {
    throw new ConfigError('REFRESH_REUSE_GRACE', `must be at most ${MAX_REFRESH_GRACE_SECONDS}s (0 turns it off)`);
  }

  // Cursor key: its own secret, or derived from the HS256 secret; generated in development.
  let cursorSecret = raw.CURSOR_SECRET;
  if (!cursorSecret && raw.JWT_SECRET)
    cursorSecret = createHmac('sha256', raw.JWT_SECRET).update('cursor').digest('base64url');
  if (!cursorSecret) cursorSecret = fromDev('cursorSecret', 'CURSOR_SECRET');

  let email = raw.BOOTSTRAP_OPERATOR_EMAIL;
  let password = raw.BOOTSTRAP_OPERATOR_PASSWORD;
  if (!email || !password) {
    if (isProduction) {
      throw new ConfigError(
        email ? 'BOOTSTRAP_OPERATOR_PASSWORD' : 'BOOTSTRAP_OPERATOR_EMAIL',
        'is required in production',
      );
    }
    email ??= fromDev('operatorEmail', 'BOOTSTRAP_OPERATOR_EMAIL');
    if (!password) {
      password = fromDev('operatorPassword', 'BOOTSTRAP_OPERATOR_PASSWORD');
      if (notices.length > 0) notices.push(`bootstrap operator: ${email} / ${password} (shown once)`);
    }
  }

  if (raw.LLM_PROVIDER === 'openai' && !raw.LLM_MODEL) {
    throw new ConfigError('LLM_MODEL', 'is required when LLM_PROVIDER=openai');
  }
  if (raw.LLM_PROVIDER === 'openai' && !raw.LLM_BASE_URL && !raw.LLM_API_KEY) {
    throw new ConfigError(
      'LLM_API_KEY',
      'is required when LLM_PROVIDER=openai (or set LLM_BASE_URL for a local server)',
    );
  }

  const secrets = new SecretBox(secretKeys(raw, isProduction, () => fromDev('secretsKey', 'SECRETS_KEYS')));

  const config = new AppConfig();
  Object.assign(config, {
    nodeEnv,
    isProduction,
    host: raw.HOST,
    port: raw.PORT,
    logLevel: raw.LOG_LEVEL,
    dataDir,
    dynamo: {
      endpoint: raw.DYNAMODB_ENDPOINT,
      embedded: !raw.DYNAMODB_ENDPOINT && !isProduction,
      region: raw.AWS_REGION,
      tablePrefix: raw.TABLE_PREFIX,
      timeoutMs: raw.DYNAMODB_TIMEOUT_MS,
      connectTimeoutMs: raw.DYNAMODB_CONNECT_TIMEOUT_MS,
      maxAttempts: raw.DYNAMODB_MAX_ATTEMPTS,
      faults,
    },
    jwt: { ...jwt, accessTtlSeconds, refreshTtlSeconds },
    cursorKey: createSecretKey(Buffer.from(cursorSecret, 'utf8')),
    // Its own key, derived from the cursor secret (itself from JWT_SECRET by default): one secret less to manage.
    refreshGrace: {
      seconds: refreshGraceSeconds,
      key: createSecretKey(createHmac('sha256', cursorSecret).update('refresh-grace').digest()),
    },
    secrets,
    bootstrapOperator: { email: email.toLowerCase(), password, name: 'Bootstrap operator' },
    metricsToken: raw.METRICS_TOKEN,
    bodyLimitBytes: raw.BODY_LIMIT_BYTES,
    corsOrigins: raw.CORS_ORIGINS.split(',')
      .map((o) => o.trim())
      .filter(Boolean),
    docsEnabled: raw.DOCS_ENABLED ?? !isProduction,
    shutdownGraceMs: raw.SHUTDOWN_GRACE_MS,
    shutdownDrainMs: drainMs(raw.SHUTDOWN_DRAIN_MS, raw.SHUTDOWN_GRACE_MS),
    trustProxy: raw.TRUST_PROXY,
    loginThrottle: {
      maxFailuresPerAccount: raw.LOGIN_MAX_FAILURES_PER_ACCOUNT,
      maxFailuresPerIp: raw.LOGIN_MAX_FAILURES_PER_IP,
      windowSeconds: duration('LOGIN_FAILURE_WINDOW', raw.LOGIN_FAILURE_WINDOW),
    },
    llm: {
      provider: raw.LLM_PROVIDER,
      baseUrl: raw.LLM_BASE_URL,
      apiKey: raw.LLM_API_KEY,
      model: raw.LLM_MODEL ?? 'echo-1',
      timeoutMs: raw.LLM_TIMEOUT_MS,
      contextTokens: raw.LLM_CONTEXT_TOKENS,
      echoDelayMs: raw.LLM_ECHO_DELAY_MS,
    },
    generation: {
      maxMs: raw.GENERATION_MAX_MS,
      flushMs: raw.GENERATION_FLUSH_MS,
      leaseMs: raw.GENERATION_LEASE_MS,
      pollMs: raw.STREAM_POLL_MS,
    },
    chatRateLimits: {
      perUserPerMinute: raw.CHAT_MESSAGES_PER_MINUTE_PER_USER,
      perTenantPerMinute: raw.CHAT_MESSAGES_PER_MINUTE_PER_TENANT,
    },
    idempotencyLeaseMs: raw.IDEMPOTENCY_LEASE_MS,
    changeFeed: {
      follow: true,
      pollMs: raw.CHANGE_FEED_POLL_MS,
      overlapMs: raw.CHANGE_FEED_OVERLAP_MS,
      revocationBoundMs: raw.REVOCATION_BOUND_MS,
    },
    caches: {
      lifetimeMs: duration('CACHE_LIFETIME', raw.CACHE_LIFETIME) * 1000,
      tenants: raw.TENANT_CACHE_MAX,
      users: raw.USER_CACHE_MAX,
      roles: raw.ROLES_CACHE_MAX,
      operators: raw.OPERATOR_CACHE_MAX,
    },
    crashPoint: raw.TEST_CRASH_POINT,
    generatedNotices: notices,
  } satisfies AppConfig);
  return config;
}

/** Variable names, for docs and tests. */
export const CONFIG_VARIABLES = Object.keys(schema.shape);
