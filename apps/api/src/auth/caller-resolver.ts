import { Injectable } from '@nestjs/common';
import type { AccessClaims, TenantCallerResolver } from '@lib/auth';
import type { Caller, ResolvedTenant } from '@lib/tenancy';
import { RolesCache } from '../roles/roles.cache';
import { UserCache } from '../users/user.cache';

/**
 * The tenant caller behind a verified token: the user exists and is not disabled, the token was issued after
 * the user's last revocation, and the permissions are the union of the user's roles' (both cached briefly).
 */
@Injectable()
export class CallerResolver implements TenantCallerResolver {
  constructor(
    private readonly users: UserCache,
    private readonly roles: RolesCache,
  ) {}

  async resolve(tenant: ResolvedTenant, claims: AccessClaims): Promise<Caller | undefined> {
    const user = await this.users.get(claims.sub);
    if (!user || user.disabled) return undefined;
    if (user.tokensValidAfter !== undefined && claims.iat <= user.tokensValidAfter) return undefined;
    return {
      id: user.id,
      scope: 'tenant',
      sessionId: claims.sid,
      tenantId: tenant.id,
      permissions: await this.roles.permissionsOf(user.roleIds),
    };
  }
}
