import { Inject, Injectable, Logger, Optional } from '@nestjs/common';
import { DomainError } from '@lib/observability';
import { type Caller, RequestContext, type ResolvedTenant, TenantRegistry } from '@lib/tenancy';
import type { FastifyRequest } from 'fastify';
import { AuthStrategy, Authenticator, type StrategyOptions, Strategies } from './authenticator';
import { type AccessClaims, InvalidTokenError, TokenService } from './token.service';

/** Resolves a tenant user's caller (exists, not disabled, permissions from roles). Provided by the users feature. */
export interface TenantCallerResolver {
  resolve(tenant: ResolvedTenant, claims: AccessClaims): Promise<Caller | undefined>;
}
export const TENANT_CALLER_RESOLVER = Symbol('TENANT_CALLER_RESOLVER');

/**
 * Resolves an operator's caller (exists, not disabled, token issued after the last disable). Provided by the
 * operators feature.
 */
export interface PlatformCallerResolver {
  resolve(claims: AccessClaims): Promise<Caller | undefined>;
}
export const PLATFORM_CALLER_RESOLVER = Symbol('PLATFORM_CALLER_RESOLVER');

/**
 * The tenant side of a token of the tenant scope (access or stream token): the tenant (unknown or deleted → 401
 * with `refusal`, suspended → 403), entered into the request context, then the caller (the user exists, is not
 * disabled, the token was issued after their last revocation; their current permissions). Fails closed without a
 * resolver.
 */
export async function enterTenant(
  tenants: TenantRegistry,
  callers: TenantCallerResolver | undefined,
  claims: AccessClaims,
  refusal: string,
): Promise<Caller> {
  const store = RequestContext.current();
  if (!store) throw new Error('request context missing: the HTTP hooks did not run');
  const tenant = await tenants.resolve(claims.tid as string);
  if (!tenant || tenant.status === 'deleted' || tenant.status === 'deleting') {
    throw new DomainError('unauthenticated', refusal);
  }
  if (tenant.status === 'suspended') throw new DomainError('tenant_suspended', 'tenant suspended');
  if (tenant.status !== 'active') throw new DomainError('forbidden', 'tenant not available');
  // The tenant enters the context first: the caller resolver reads the tenant's table.
  store.tenant = tenant;
  const caller = callers ? await callers.resolve(tenant, claims) : undefined;
  if (!caller) {
    store.tenant = undefined;
    throw new DomainError('unauthenticated', refusal);
  }
  return caller;
}

/** A bearer credential shaped like a JWT (three base64url parts); anything else is another strategy's. */
const BEARER_JWT = /^Bearer ([A-Za-z0-9_-]+\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*)$/;
const INVALID_ACCESS = 'invalid or expired access token';

/**
 * Access tokens (JWT) of both scopes: verification by TokenService (pinned algorithm, issuer, audience, key id,
 * `typ`, `exp`, and its cache of verified tokens), then the route's scope; for tenant tokens the tenant (unknown
 * or deleted → 401, suspended → 403), entered into the request context, and the caller; for platform tokens the
 * operator (unknown or disabled → 401). Only the Authorization header is read (never the query string).
 */
@Injectable()
export class AccessTokenStrategy extends AuthStrategy(Strategies.accessToken) {
  private readonly logger = new Logger(AccessTokenStrategy.name);

  constructor(
    authenticator: Authenticator,
    private readonly tokens: TokenService,
    private readonly tenants: TenantRegistry,
    @Optional() @Inject(TENANT_CALLER_RESOLVER) private readonly callers?: TenantCallerResolver,
    @Optional() @Inject(PLATFORM_CALLER_RESOLVER) private readonly operators?: PlatformCallerResolver,
  ) {
    super(authenticator);
  }

  async validate(request: FastifyRequest, { rule }: StrategyOptions): Promise<Caller | false> {
    const header = request.headers.authorization;
    const match = header ? BEARER_JWT.exec(header) : null;
    if (!match || !rule) return false;
    const claims = this.verifyToken(match[1]);
    if (claims.scope !== rule.scope) {
      throw new DomainError('forbidden', `a ${claims.scope} token cannot be used on this route`);
    }
    if (claims.scope === 'platform') {
      // Fail closed: without a resolver no operator token is accepted. A disabled or unknown operator gets the
      // answer of a bad token.
      const caller = this.operators ? await this.operators.resolve(claims) : undefined;
      if (!caller) throw new DomainError('unauthenticated', INVALID_ACCESS);
      return caller;
    }
    return enterTenant(this.tenants, this.callers, claims, INVALID_ACCESS);
  }

  private verifyToken(token: string): AccessClaims {
    try {
      return this.tokens.verifyAccessToken(token);
    } catch (error) {
      if (!(error instanceof InvalidTokenError)) throw error;
      this.logger.debug(`token refused: ${error.message}`);
      throw new DomainError('unauthenticated', INVALID_ACCESS);
    }
  }
}
