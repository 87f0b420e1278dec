import { type CanActivate, type ExecutionContext, Injectable } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { DomainError } from '@lib/observability';
import { RequestContext } from '@lib/tenancy';
import { accessRuleOf } from './access.guard';

/** Global guard 2 of 2: the caller holds the route's declared permission, before the handler runs. */
@Injectable()
export class PermissionsGuard implements CanActivate {
  constructor(private readonly reflector: Reflector) {}

  canActivate(context: ExecutionContext): boolean {
    const rule = accessRuleOf(this.reflector, context);
    if (!rule || rule.public || !rule.permission) return true;
    const caller = RequestContext.caller();
    if (!caller?.permissions.has(rule.permission)) {
      throw new DomainError('forbidden', `missing permission ${rule.permission}`);
    }
    return true;
  }
}
