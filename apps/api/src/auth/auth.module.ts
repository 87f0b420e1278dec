import { Global, Module } from '@nestjs/common';
import { TENANT_CALLER_RESOLVER } from '@lib/auth';
import { RolesModule } from '../roles/roles.module';
import { UsersModule } from '../users/users.module';
import { AuthController } from './auth.controller';
import { AuthService } from './auth.service';
import { CallerResolver } from './caller-resolver';
import { LoginThrottle } from './login-throttle';
import { OperatorPasswordStrategy } from './operator-password.strategy';
import { PasswordResetController } from './password-reset.controller';
import { SessionsRepository } from './sessions.repository';
import { TenantPasswordStrategy } from './tenant-password.strategy';

/**
 * Tenant sign-in, the password strategies (tenant users and operators), and the caller resolver the access-token
 * strategy uses for tenant tokens.
 */
@Global()
@Module({
  imports: [UsersModule, RolesModule],
  controllers: [AuthController, PasswordResetController],
  providers: [
    AuthService,
    SessionsRepository,
    LoginThrottle,
    CallerResolver,
    TenantPasswordStrategy,
    OperatorPasswordStrategy,
    { provide: TENANT_CALLER_RESOLVER, useExisting: CallerResolver },
  ],
  exports: [TENANT_CALLER_RESOLVER, LoginThrottle],
})
export class TenantAuthModule {}
