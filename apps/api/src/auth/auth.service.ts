import { Injectable, Logger } from '@nestjs/common';
import {
  Authenticator,
  newRefreshToken,
  type PasswordAttempt,
  redeemRefreshToken,
  refreshTokenIds,
  Strategies,
  TokenService,
} from '@lib/auth';
import { AppConfig } from '@lib/config';
import { DomainError } from '@lib/observability';
import { type Caller, RequestContext, TenantRegistry } from '@lib/tenancy';
import { ulid } from 'ulid';
import type { TokenPairDto } from '../operators/dto/operator-auth.dto';
import { RolesCache } from '../roles/roles.cache';
import { UserCache } from '../users/user.cache';
import { UsersRepository } from '../users/users.repository';
import type { MeDto } from './dto/auth.dto';
import { SessionsRepository } from './sessions.repository';
import { INVALID_LOGIN, type TenantLogin } from './tenant-password.strategy';

const INVALID_REFRESH = 'invalid refresh token';
const now = () => Math.floor(Date.now() / 1000);

/** Sign-in for client apps: login, refresh with rotation and reuse detection, logout, profile. */
@Injectable()
export class AuthService {
  private readonly logger = new Logger(AuthService.name);

  constructor(
    private readonly registry: TenantRegistry,
    private readonly users: UsersRepository,
    private readonly userCache: UserCache,
    private readonly roles: RolesCache,
    private readonly sessionItems: SessionsRepository,
    private readonly authenticator: Authenticator,
    private readonly tokens: TokenService,
    private readonly config: AppConfig,
  ) {}

  /**
   * Signs a tenant user in through the tenant-password strategy (throttle, password, tenant status: see
   * TenantPasswordStrategy) and opens a session.
   */
  async login(slug: string, email: string, password: string, ip: string): Promise<TokenPairDto> {
    const attempt: PasswordAttempt = { body: { tenant: slug, email, password }, ip };
    const login = await this.authenticator.authenticate<TenantLogin>([Strategies.tenantPassword], attempt);
    if (!login) throw new DomainError('unauthenticated', INVALID_LOGIN);
    const { tenant, user } = login;
    const sessionId = ulid();
    const refresh = newRefreshToken([tenant.id, user.id, sessionId]);
    await this.sessions.create(user.id, sessionId, refresh.hash, now() + this.config.jwt.refreshTtlSeconds);
    return this.pair(tenant.id, user.id, sessionId, refresh.token);
  }

  /**
   * Rotation, grace and reuse detection follow the shared rule (libs/auth refresh-token.ts). Until the presented
   * token is proven genuine, every refusal is the same 401: a suspended tenant is told only to a holder of a
   * real token, so a forged token naming a tenant id learns nothing about that tenant.
   */
  async refresh(refreshToken: string): Promise<TokenPairDto> {
    const ids = refreshTokenIds(refreshToken, 3);
    if (!ids) throw new DomainError('unauthenticated', INVALID_REFRESH);
    const [tenantId, userId, sessionId] = ids;
    const tenant = await this.registry.resolve(tenantId);
    if (!tenant || (tenant.status !== 'active' && tenant.status !== 'suspended')) {
      throw new DomainError('unauthenticated', INVALID_REFRESH);
    }
    RequestContext.enterTenant(tenant);
    const outcome = await redeemRefreshToken(
      refreshToken,
      ids,
      this.sessions.store(userId, sessionId, () => now() + this.config.jwt.refreshTtlSeconds),
      {
        key: this.config.refreshGrace.key,
        graceMs: this.config.refreshGrace.seconds * 1000,
        authorize: async (session) => {
          if (tenant.status === 'suspended') throw new DomainError('tenant_suspended', 'tenant suspended');
          const user = await this.users.get(userId);
          const revokedAfter = user?.tokensValidAfter ?? -1;
          if (!user || user.disabled || session.createdAt <= revokedAfter)
            throw new DomainError('unauthenticated', INVALID_REFRESH);
        },
      },
    );
    if (outcome.kind === 'reused') {
      this.logger.warn(`refresh token reuse: tenant ${tenantId} user ${userId} session ${sessionId} revoked`);
    }
    if (outcome.kind !== 'issued') throw new DomainError('unauthenticated', INVALID_REFRESH);
    return this.pair(tenantId, userId, sessionId, outcome.token);
  }

  /** Revokes the session of the access token (and of `refreshToken`, when it is the same user's). */
  async logout(caller: Caller, refreshToken: string | undefined): Promise<void> {
    await this.sessions.revoke(caller.id, caller.sessionId);
    const ids = refreshToken ? refreshTokenIds(refreshToken, 3) : undefined;
    if (ids && ids[0] === caller.tenantId && ids[1] === caller.id && ids[2] !== caller.sessionId) {
      await this.sessions.revoke(caller.id, ids[2]);
    }
  }

  async me(caller: Caller): Promise<MeDto> {
    const user = await this.userCache.get(caller.id);
    if (!user) throw new DomainError('unauthenticated', 'invalid or expired access token');
    const roles = await this.roles.roles();
    const tenant = RequestContext.tenant();
    return {
      id: user.id,
      email: user.email,
      name: user.name,
      roles: user.roleIds.filter((id) => roles.has(id)).map((id) => ({ id, name: roles.get(id)?.name ?? '' })),
      permissions: [...caller.permissions].sort(),
      tenant: { id: tenant.id, slug: tenant.slug, name: tenant.name },
    };
  }

  /** The users' refresh sessions (the tenant of the request context). */
  private get sessions() {
    return this.sessionItems.sessions;
  }

  private pair(tenantId: string, userId: string, sessionId: string, refreshToken: string): TokenPairDto {
    return {
      accessToken: this.tokens.issueAccessToken({ sub: userId, scope: 'tenant', sid: sessionId, tid: tenantId }),
      refreshToken,
      tokenType: 'Bearer',
      expiresIn: this.tokens.accessTtlSeconds,
    };
  }
}
