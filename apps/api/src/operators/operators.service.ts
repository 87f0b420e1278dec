import { Injectable, Logger, type OnApplicationBootstrap } from '@nestjs/common';
import {
  Authenticator,
  newRefreshToken,
  PasswordHasher,
  type PasswordAttempt,
  redeemRefreshToken,
  refreshTokenIds,
  Strategies,
  TokenService,
} from '@lib/auth';
import { AppConfig } from '@lib/config';
import { type OperatorAttributes, RETRY, retryOptimistic } from '@lib/dynamo';
import { DomainError, ULID_PATTERN } from '@lib/observability';
import { ulid } from 'ulid';
import type { OperatorDto, TokenPairDto } from './dto/operator-auth.dto';
import { LoginThrottle } from '../auth/login-throttle';
import { OperatorCache } from './operator.cache';
import { OperatorsRepository } from './operators.repository';

const INVALID_LOGIN = 'invalid email or password';
const INVALID_REFRESH = 'invalid refresh token';
const INVALID_ACCESS = 'invalid or expired access token';
const LAST_OPERATOR = 'the last enabled operator cannot be disabled';
/** Re-reads of an operator that another writer changed between our read and our write. */

/** An operator as listed (never the password hash). */
export interface OperatorSummary {
  id: string;
  email: string;
  name: string;
  disabled: boolean;
  createdAt: string;
}

const summaryOf = (o: OperatorAttributes): OperatorSummary => ({
  id: o.id,
  email: o.email,
  name: o.name,
  disabled: o.disabled,
  createdAt: o.createdAt,
});

/**
 * Platform operators: bootstrap from config, login, refresh with rotation and reuse detection, profile, and
 * list / disable / enable (shared by the API and the CLI).
 */
@Injectable()
export class OperatorsService implements OnApplicationBootstrap {
  private readonly logger = new Logger(OperatorsService.name);

  constructor(
    private readonly repository: OperatorsRepository,
    private readonly cache: OperatorCache,
    private readonly throttle: LoginThrottle,
    private readonly hasher: PasswordHasher,
    private readonly tokens: TokenService,
    private readonly config: AppConfig,
    private readonly authenticator: Authenticator,
  ) {}

  /**
   * Makes sure the operator list and counter exist (a one-time backfill on deployments older than them:
   * OperatorsRepository.ensureIndexed), then creates the bootstrap operator from config when missing. Runs after
   * the control table exists, before the server listens.
   */
  async onApplicationBootstrap(): Promise<void> {
    const report = await this.repository.ensureIndexed();
    if (report.scanned) {
      this.logger.log(
        `operator list initialised: ${report.backfilled} operator(s) indexed, ${report.enabledCount} enabled`,
      );
    }
    const { email, password, name } = this.config.bootstrapOperator;
    const created = await this.create(email, name, password);
    if (created) this.logger.log(`bootstrap operator ${email} created`);
  }

  /** Creates an operator; returns undefined when the email is already taken (idempotent for the bootstrap). */
  async create(email: string, name: string, password: string): Promise<OperatorDto | undefined> {
    const normalized = email.trim().toLowerCase();
    if (await this.repository.findByEmail(normalized)) return undefined;
    const now = new Date().toISOString();
    const operator = {
      id: ulid(),
      email: normalized,
      name,
      passwordHash: await this.hasher.hash(password),
      disabled: false,
      createdAt: now,
      updatedAt: now,
      version: 1,
    };
    return (await this.repository.create(operator)) ? { id: operator.id, email: operator.email, name } : undefined;
  }

  /** Signs an operator in through the operator-password strategy (`verifyPassword`) and opens a session. */
  async login(email: string, password: string, ip: string): Promise<TokenPairDto> {
    const attempt: PasswordAttempt = { body: { email, password }, ip };
    const operator = await this.authenticator.authenticate<OperatorAttributes>([Strategies.operatorPassword], attempt);
    if (!operator) throw new DomainError('unauthenticated', INVALID_LOGIN);
    const sessionId = ulid();
    const refresh = newRefreshToken([operator.id, sessionId]);
    await this.repository.sessions.create(operator.id, sessionId, refresh.hash, this.refreshExpiry());
    return this.tokenPair(operator.id, sessionId, refresh.token);
  }

  /**
   * The operator-password strategy's check, throttled like tenant logins (apps/api/src/auth/login-throttle.ts):
   * per operator email and per address, before the password is verified.
   */
  async verifyPassword({ body, ip }: PasswordAttempt): Promise<OperatorAttributes> {
    const normalized = body.email.trim().toLowerCase();
    const permit = await this.throttle.reserve(LoginThrottle.operatorAccount(normalized), ip);
    const operator = await this.repository.findByEmail(normalized);
    // Unknown email and wrong password cost the same time and give the same answer.
    const ok = operator
      ? await this.hasher.verify(operator.passwordHash, body.password)
      : await this.hasher.verifyDummy(body.password);
    if (!operator || !ok || operator.disabled) throw new DomainError('unauthenticated', INVALID_LOGIN);
    await this.throttle.succeeded(permit);
    return operator;
  }

  /** Rotation, grace and reuse detection follow the shared rule (libs/auth refresh-token.ts). */
  async refresh(refreshToken: string): Promise<TokenPairDto> {
    const ids = refreshTokenIds(refreshToken, 2);
    if (!ids) throw new DomainError('unauthenticated', INVALID_REFRESH);
    const [operatorId, sessionId] = ids;
    const outcome = await redeemRefreshToken(
      refreshToken,
      ids,
      this.repository.sessions.store(operatorId, sessionId, () => this.refreshExpiry()),
      {
        key: this.config.refreshGrace.key,
        graceMs: this.config.refreshGrace.seconds * 1000,
        authorize: async (session) => {
          const operator = await this.repository.findById(operatorId);
          if (!operator || operator.disabled) throw new DomainError('unauthenticated', INVALID_REFRESH);
          // A session from before the last disable stays dead after an enable (seconds, like `iat`).
          if (operator.tokensValidAfter !== undefined && session.createdAt <= operator.tokensValidAfter) {
            throw new DomainError('unauthenticated', INVALID_REFRESH);
          }
        },
      },
    );
    if (outcome.kind === 'reused') {
      this.logger.warn(`refresh token reuse for operator ${operatorId} session ${sessionId}: session revoked`);
    }
    if (outcome.kind !== 'issued') throw new DomainError('unauthenticated', INVALID_REFRESH);
    return this.tokenPair(operatorId, sessionId, outcome.token);
  }

  /** The caller's profile, from the cache the access guard has just filled (no DynamoDB call). */
  async me(operatorId: string): Promise<OperatorDto> {
    const operator = await this.cache.get(operatorId);
    if (!operator || operator.disabled) throw new DomainError('unauthenticated', INVALID_ACCESS);
    return { id: operator.id, email: operator.email, name: operator.name };
  }

  /** Every operator, oldest first. */
  async list(): Promise<OperatorSummary[]> {
    return (await this.repository.list()).map(summaryOf);
  }

  /** The operator with this id or email; not_found otherwise. */
  async findByRef(ref: string): Promise<OperatorSummary> {
    return summaryOf(await this.lookup(ref));
  }

  /**
   * Disables an operator: its access tokens are refused from the next request (at once on this instance, within
   * the revocation bound on the others) and stay refused after an enable, and its sessions cannot be refreshed.
   * The last enabled operator cannot be disabled (conflict), whatever runs concurrently. Disabling a disabled
   * operator changes nothing.
   */
  disable(ref: string): Promise<OperatorSummary> {
    return this.setDisabled(ref, true);
  }

  /** Enables an operator; it can log in again (tokens and sessions from before its disable stay refused). */
  enable(ref: string): Promise<OperatorSummary> {
    return this.setDisabled(ref, false);
  }

  private setDisabled(ref: string, disabled: boolean): Promise<OperatorSummary> {
    return retryOptimistic(
      async () => {
        const current = await this.lookup(ref);
        if (current.disabled === disabled) return summaryOf(current);
        const tokensValidAfter = disabled ? Math.floor(Date.now() / 1000) : undefined;
        const result = await this.repository.setDisabled(current, disabled, tokensValidAfter);
        if (result === 'changed') return RETRY; // another writer got there first: read the operator again
        if (result === 'last-enabled') throw new DomainError('conflict', LAST_OPERATOR);
        if (result === 'no-counter') throw new Error('the operator counter is missing: restart to re-create it');
        this.cache.invalidate(current.id);
        this.logger.log(`operator ${current.id} ${disabled ? 'disabled: its tokens are refused' : 'enabled'}`);
        return summaryOf({ ...current, disabled });
      },
      { conflict: 'the operator is being changed concurrently; retry' },
    );
  }

  private async lookup(ref: string): Promise<OperatorAttributes> {
    const trimmed = ref.trim();
    const operator = trimmed.includes('@')
      ? await this.repository.findByEmail(trimmed.toLowerCase())
      : ULID_PATTERN.test(trimmed)
        ? await this.repository.findById(trimmed)
        : undefined;
    if (!operator) throw new DomainError('not_found', `no operator ${ref}`);
    return operator;
  }

  private tokenPair(operatorId: string, sessionId: string, refreshToken: string): TokenPairDto {
    return {
      accessToken: this.tokens.issueAccessToken({ sub: operatorId, scope: 'platform', sid: sessionId }),
      refreshToken,
      tokenType: 'Bearer',
      expiresIn: this.tokens.accessTtlSeconds,
    };
  }

  private refreshExpiry(): number {
    return Math.floor(Date.now() / 1000) + this.config.jwt.refreshTtlSeconds;
  }
}
