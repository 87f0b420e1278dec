import { Injectable } from '@nestjs/common';
import { AuthStrategy, Authenticator, PasswordHasher, type PasswordAttempt, Strategies } from '@lib/auth';
import { DomainError } from '@lib/observability';
import { RequestContext, type ResolvedTenant, TenantRegistry } from '@lib/tenancy';
import type { UserRecord } from '../users/user.types';
import { UsersRepository } from '../users/users.repository';
import { LoginThrottle } from './login-throttle';

export const INVALID_LOGIN = 'invalid tenant, email or password';

/** A tenant user whose password was right. */
export interface TenantLogin {
  tenant: ResolvedTenant;
  user: UserRecord;
}

/**
 * A tenant user's e-mail and password (POST /v1/auth/login). Unknown tenant, unknown email, wrong password and
 * disabled user give the same 401, cost about the same time (a dummy hash is verified when there is no user) and
 * count alike against the throttle, which is consulted before the password is checked. A suspended tenant is
 * told only to a caller whose password was right.
 */
@Injectable()
export class TenantPasswordStrategy extends AuthStrategy(Strategies.tenantPassword) {
  constructor(
    authenticator: Authenticator,
    private readonly registry: TenantRegistry,
    private readonly users: UsersRepository,
    private readonly throttle: LoginThrottle,
    private readonly hasher: PasswordHasher,
  ) {
    super(authenticator);
  }

  async validate({ body, ip }: PasswordAttempt): Promise<TenantLogin> {
    const slug = body.tenant ?? '';
    const email = body.email.trim().toLowerCase();
    const permit = await this.throttle.reserve(LoginThrottle.tenantAccount(slug, email), ip);
    const tenant = await this.registry.resolveSlug(slug);
    const usable = tenant && (tenant.status === 'active' || tenant.status === 'suspended');
    let user;
    if (usable) {
      RequestContext.enterTenant(tenant);
      user = await this.users.getByEmail(email);
    }
    const ok = user
      ? await this.hasher.verify(user.passwordHash, body.password)
      : await this.hasher.verifyDummy(body.password);
    if (!tenant || !usable || !user || !ok || user.disabled) throw new DomainError('unauthenticated', INVALID_LOGIN);
    await this.throttle.succeeded(permit);
    if (tenant.status === 'suspended') throw new DomainError('tenant_suspended', 'tenant suspended');
    return { tenant, user };
  }
}
