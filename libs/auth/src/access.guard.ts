import { type CanActivate, type ExecutionContext, Injectable } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { DomainError } from '@lib/observability';
import { type Caller, RequestContext } from '@lib/tenancy';
import type { FastifyRequest } from 'fastify';
import { ACCESS_METADATA, type AccessRule } from './access.decorator';
import { Authenticator, type StrategyName } from './authenticator';
import { CREDENTIALS_METADATA, DEFAULT_CREDENTIALS } from './credentials.decorator';

/** Reads the access rule of a route (handler first, then controller). */
export function accessRuleOf(reflector: Reflector, context: ExecutionContext): AccessRule | undefined {
  return reflector.getAllAndOverride<AccessRule | undefined>(ACCESS_METADATA, [
    context.getHandler(),
    context.getClass(),
  ]);
}

/**
 * Global guard 1 of 2: every route not marked `@Public()` needs a caller, which the route's strategies
 * (`@Credentials`, else the default of its scope: access token; access token or API key) establish through
 * passport, in order; the first to recognise the credential decides (a principal, or its refusal). The caller
 * enters the request context. A credential no strategy recognises, or none, is a 401. Deny by default: a route
 * without a declaration is refused.
 */
@Injectable()
export class AccessGuard implements CanActivate {
  constructor(
    private readonly reflector: Reflector,
    private readonly authenticator: Authenticator,
  ) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const rule = accessRuleOf(this.reflector, context);
    // Secure by default: a route without a declaration is refused (a test also fails on it).
    if (!rule) throw new DomainError('forbidden', 'this route declares no access rule');
    if (rule.public) return true;
    const store = RequestContext.current();
    if (!store) throw new Error('request context missing: the HTTP hooks did not run');

    const strategies =
      this.reflector.getAllAndOverride<StrategyName[] | undefined>(CREDENTIALS_METADATA, [
        context.getHandler(),
        context.getClass(),
      ]) ?? DEFAULT_CREDENTIALS[rule.scope];
    const request = context.switchToHttp().getRequest<FastifyRequest>();
    const caller = await this.authenticator.authenticate<Caller>(strategies, request, { rule });
    if (!caller) throw new DomainError('unauthenticated', 'missing or malformed bearer token');
    store.caller = caller;
    return true;
  }
}
