import { Injectable } from '@nestjs/common';
import type { AccessClaims, TenantCallerResolver } from '@lib/auth';
import type { Caller, ResolvedTenant } from '@lib/tenancy';
import { permissionsOf, RolesCache } from '../roles/roles.cache';
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
    // Both at once: a caller's first request on an instance waits for one round trip, not two.
    const [user, roles] = await Promise.all([this.users.get(claims.sub), this.roles.roles()]);
    if (!user || user.disabled) return undefined;
    if (user.tokensValidAfter !== undefined && claims.iat <= user.tokensValidAfter) return undefined;
    return {
      id: user.id,
      scope: 'tenant',
      sessionId: claims.sid,
      tenantId: tenant.id,
      permissions: permissionsOf(roles, user.roleIds),
    };
  }
}
