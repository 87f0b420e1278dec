import { Injectable, Logger, type OnApplicationBootstrap } from '@nestjs/common';
import { newRefreshToken, PasswordHasher, redeemRefreshToken, refreshTokenIds, TokenService } from '@lib/auth';
import { AppConfig } from '@lib/config';
import { DomainError } from '@lib/observability';
import { ulid } from 'ulid';
import type { OperatorDto, TokenPairDto } from './dto/operator-auth.dto';
import { LoginThrottle } from '../auth/login-throttle';
import { OperatorsRepository } from './operators.repository';

const INVALID_LOGIN = 'invalid email or password';
const INVALID_REFRESH = 'invalid refresh token';

/** Platform operators: bootstrap from config, login, refresh with rotation and reuse detection, profile. */
@Injectable()
export class OperatorsService implements OnApplicationBootstrap {
  private readonly logger = new Logger(OperatorsService.name);

  constructor(
    private readonly repository: OperatorsRepository,
    private readonly throttle: LoginThrottle,
    private readonly hasher: PasswordHasher,
    private readonly tokens: TokenService,
    private readonly config: AppConfig,
  ) {}

  /** Creates the bootstrap operator from config when missing (runs after the control table exists). */
  async onApplicationBootstrap(): Promise<void> {
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

  /** Throttled like tenant logins (apps/api/src/auth/login-throttle.ts): per operator email and per address. */
  async login(email: string, password: string, ip: string): Promise<TokenPairDto> {
    const normalized = email.trim().toLowerCase();
    const permit = await this.throttle.reserve(LoginThrottle.operatorAccount(normalized), ip);
    const operator = await this.repository.findByEmail(normalized);
    // Unknown email and wrong password cost the same time and give the same answer.
    const ok = operator
      ? await this.hasher.verify(operator.passwordHash, password)
      : await this.hasher.verifyDummy(password);
    if (!operator || !ok || operator.disabled) throw new DomainError('unauthenticated', INVALID_LOGIN);
    await this.throttle.succeeded(permit);
    const sessionId = ulid();
    const refresh = newRefreshToken([operator.id, sessionId]);
    await this.repository.createSession({
      operatorId: operator.id,
      sessionId,
      refreshHash: refresh.hash,
      previousHashes: [],
      revoked: false,
      expiresAt: this.refreshExpiry(),
      createdAt: new Date().toISOString(),
    });
    return this.tokenPair(operator.id, sessionId, refresh.token);
  }

  /** Rotation, grace and reuse detection follow the shared rule (libs/auth refresh-token.ts). */
  async refresh(refreshToken: string): Promise<TokenPairDto> {
    const ids = refreshTokenIds(refreshToken, 2);
    if (!ids) throw new DomainError('unauthenticated', INVALID_REFRESH);
    const [operatorId, sessionId] = ids;
    const outcome = await redeemRefreshToken(
      refreshToken,
      ids,
      {
        load: () => this.repository.findSession(operatorId, sessionId),
        rotate: (session, rotation) => this.repository.rotate(session, rotation, this.refreshExpiry()),
        revoke: () => this.repository.revokeSession(operatorId, sessionId),
      },
      {
        key: this.config.refreshGrace.key,
        graceMs: this.config.refreshGrace.seconds * 1000,
        authorize: async () => {
          const operator = await this.repository.findById(operatorId);
          if (!operator || operator.disabled) throw new DomainError('unauthenticated', INVALID_REFRESH);
        },
      },
    );
    if (outcome.kind === 'reused') {
      this.logger.warn(`refresh token reuse for operator ${operatorId} session ${sessionId}: session revoked`);
    }
    if (outcome.kind !== 'issued') throw new DomainError('unauthenticated', INVALID_REFRESH);
    return this.tokenPair(operatorId, sessionId, outcome.token);
  }

  async me(operatorId: string): Promise<OperatorDto> {
    const operator = await this.repository.findById(operatorId);
    if (!operator || operator.disabled) throw new DomainError('unauthenticated', 'invalid or expired access token');
    return { id: operator.id, email: operator.email, name: operator.name };
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
