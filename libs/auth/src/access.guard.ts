import { type CanActivate, type ExecutionContext, Inject, Injectable, Logger, Optional } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { DomainError } from '@lib/observability';
import { type Caller, RequestContext, type ResolvedTenant, TenantRegistry } from '@lib/tenancy';
import type { FastifyRequest } from 'fastify';
import { ACCESS_METADATA, type AccessRule } from './access.decorator';
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

const BEARER = /^Bearer ([A-Za-z0-9_-]+\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*)$/;

/** Reads the access rule of a route (handler first, then controller). */
export function accessRuleOf(reflector: Reflector, context: ExecutionContext): AccessRule | undefined {
  return reflector.getAllAndOverride<AccessRule | undefined>(ACCESS_METADATA, [
    context.getHandler(),
    context.getClass(),
  ]);
}

/**
 * Global guard 1 of 2: requires a valid access token on every route not marked `@Public()`, with the route's
 * scope; for tenant tokens, resolves the tenant (unknown or deleted → 401, suspended → 403) and the caller,
 * and puts both into the request context; for platform tokens, resolves the operator (unknown or disabled → 401). Only the Authorization header is read (never the query string).
 */
@Injectable()
export class AccessGuard implements CanActivate {
  private readonly logger = new Logger(AccessGuard.name);

  constructor(
    private readonly reflector: Reflector,
    private readonly tokens: TokenService,
    private readonly tenants: TenantRegistry,
    @Optional() @Inject(TENANT_CALLER_RESOLVER) private readonly callers?: TenantCallerResolver,
    @Optional() @Inject(PLATFORM_CALLER_RESOLVER) private readonly operators?: PlatformCallerResolver,
  ) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const rule = accessRuleOf(this.reflector, context);
    // Secure by default: a route without a declaration is refused (a test also fails on it).
    if (!rule) throw new DomainError('forbidden', 'this route declares no access rule');
    if (rule.public) return true;

    const request = context.switchToHttp().getRequest<FastifyRequest>();
    const claims = this.verify(request.headers.authorization);
    if (claims.scope !== rule.scope) {
      throw new DomainError('forbidden', `a ${claims.scope} token cannot be used on this route`);
    }
    const store = RequestContext.current();
    if (!store) throw new Error('request context missing: the HTTP hooks did not run');

    if (claims.scope === 'platform') {
      // Fail closed: without a resolver no operator token is accepted. A disabled or unknown operator gets the
      // answer of a bad token.
      const caller = this.operators ? await this.operators.resolve(claims) : undefined;
      if (!caller) throw new DomainError('unauthenticated', 'invalid or expired access token');
      store.caller = caller;
      return true;
    }
    const tenant = await this.tenants.resolve(claims.tid as string);
    if (!tenant || tenant.status === 'deleted' || tenant.status === 'deleting') {
      throw new DomainError('unauthenticated', 'invalid or expired access token');
    }
    if (tenant.status === 'suspended') throw new DomainError('tenant_suspended', 'tenant suspended');
    if (tenant.status !== 'active') throw new DomainError('forbidden', 'tenant not available');
    // The tenant enters the context first: the caller resolver reads the tenant's table.
    store.tenant = tenant;
    const caller = this.callers ? await this.callers.resolve(tenant, claims) : undefined;
    if (!caller) {
      store.tenant = undefined;
      throw new DomainError('unauthenticated', 'invalid or expired access token');
    }
    store.caller = caller;
    return true;
  }

  private verify(header: string | undefined): AccessClaims {
    const match = header ? BEARER.exec(header) : null;
    if (!match) throw new DomainError('unauthenticated', 'missing or malformed bearer token');
    try {
      return this.tokens.verifyAccessToken(match[1]);
    } catch (error) {
      if (!(error instanceof InvalidTokenError)) throw error;
      this.logger.debug(`token refused: ${error.message}`);
      throw new DomainError('unauthenticated', 'invalid or expired access token');
    }
  }
}
