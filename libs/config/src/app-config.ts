import type { CrashPoint } from './fault-hooks';
import type { FaultRule } from './fault-rules';
import type { KeyObject } from 'node:crypto';
import type { SecretBox } from './secret-box';

export type NodeEnv = 'development' | 'test' | 'production';
export type JwtAlgorithm = 'HS256' | 'ES256';
export type LlmProviderName = 'echo' | 'openai';

export interface DynamoSettings {
  /** Endpoint URL; undefined means the AWS SDK default (AWS itself). */
  endpoint: string | undefined;
  /** True when the API must launch the embedded DynamoDB Local (development, no endpoint given). */
  embedded: boolean;
  region: string;
  tablePrefix: string;
  /** Per-attempt request timeout; the SDK aborts the request after it. */
  timeoutMs: number;
  connectTimeoutMs: number;
  maxAttempts: number;
  /** Test-only injected DynamoDB failures (DYNAMODB_FAULTS; refused outside NODE_ENV=test). */
  faults: FaultRule[];
}

export interface JwtSettings {
  algorithm: JwtAlgorithm;
  signingKey: KeyObject;
  verifyKey: KeyObject;
  /** Key id put in every token header; tokens with another kid are refused. */
  kid: string;
  issuer: string;
  audience: string;
  accessTtlSeconds: number;
  refreshTtlSeconds: number;
}

export interface LlmSettings {
  provider: LlmProviderName;
  baseUrl: string | undefined;
  apiKey: string | undefined;
  model: string;
  timeoutMs: number;
  /** Token budget of a prompt: system prompt + as many recent messages as fit. */
  contextTokens: number;
  /** The echo provider's pause after each word (slow streams for tests and demos). */
  echoDelayMs: number;
}

/** Replies generated independently of their connection (apps/api/src/chats/generation, docs/streaming.md). */
export interface GenerationSettings {
  /** A generation is stopped (and its partial reply kept as incomplete) after this long. */
  maxMs: number;
  /** How often the generating instance writes the text produced since its last write. */
  flushMs: number;
  /** Renewed by every flush; a generation whose lease ran out is ended as incomplete by whoever reads it. */
  leaseMs: number;
  /** How often an instance reads a running generation for its followers (one read for all of them). */
  pollMs: number;
}

/**
 * The whole configuration, read and validated once at boot (see `loadConfig`).
 * Injected by class: `constructor(private readonly config: AppConfig)`.
 */
export class AppConfig {
  nodeEnv!: NodeEnv;
  isProduction!: boolean;
  host!: string;
  port!: number;
  logLevel!: string;
  /** Local state for development: embedded database files, generated secrets. */
  dataDir!: string;
  dynamo!: DynamoSettings;
  jwt!: JwtSettings;
  /** HMAC key of pagination cursors. */
  cursorKey!: KeyObject;
  /** Seals and opens the secrets stored at rest (SECRETS_KEYS keyring; README "Secrets"). */
  secrets!: SecretBox;
  bootstrapOperator!: { email: string; password: string; name: string };
  metricsToken!: string | undefined;
  bodyLimitBytes!: number;
  corsOrigins!: string[];
  docsEnabled!: boolean;
  shutdownGraceMs!: number;
  /** After SIGTERM: how long the server keeps accepting connections (readiness already 503), within the grace. */
  shutdownDrainMs!: number;
  /** Trust X-Forwarded-For (behind a load balancer) for the client address used by login throttling. */
  trustProxy!: boolean;
  /**
   * Login attempts per account and per client address within the window; each attempt takes its point before
   * the password is checked, and a successful login clears the account's count and gives the address's back.
   */
  loginThrottle!: { maxFailuresPerAccount: number; maxFailuresPerIp: number; windowSeconds: number };
  /**
   * Refresh-token rotation: within `seconds` of a rotation, presenting the rotated-out token again (two tabs, a
   * retry) gets the same successor instead of revoking the session (0 = never). `key` seals that successor in
   * the session item (libs/auth refresh-token.ts).
   */
  refreshGrace!: { seconds: number; key: KeyObject };
  llm!: LlmSettings;
  generation!: GenerationSettings;
  /** Message creation limits, shared across instances (DynamoDB-backed). */
  chatRateLimits!: { perUserPerMinute: number; perTenantPerMinute: number };
  /**
   * Lease of a message POST on its Idempotency-Key, from the claim until the start transaction records the
   * exchange's messages on the key (a retry then attaches to the reply): a retry after a crash in between waits at
   * most this long (409 until then).
   */
  idempotencyLeaseMs!: number;
  /**
   * The change feed (libs/tenancy change-feed.ts): polled every `pollMs`; each poll re-reads `overlapMs` before
   * the previous one (writers' clock skew plus commit delay must stay below it); cached entries older than
   * `revocationBoundMs` are re-read before use while the feed has not been read within that bound. `follow`
   * is false for programs that only write changes (the CLI).
   */
  changeFeed!: { follow: boolean; pollMs: number; overlapMs: number; revocationBoundMs: number };
  /** Caches on the request path: sizes (LRU) and the safety lifetime of an entry the feed never named. */
  caches!: { lifetimeMs: number; tenants: number; users: number; roles: number; operators: number };
  /** Test-only: the crash point where the process dies (TEST_CRASH_POINT; refused outside NODE_ENV=test). */
  crashPoint!: CrashPoint | undefined;
  /** Secrets generated for development that should be printed once (empty otherwise). */
  generatedNotices!: string[];
}
