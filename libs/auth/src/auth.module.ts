import { Global, Module } from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
import { AccessGuard } from './access.guard';
import { PasswordHasher } from './password-hasher';
import { PermissionsGuard } from './permissions.guard';
import { TokenService } from './token.service';

/** Token issuing and verification, password hashing, and the two global guards (in this order). */
@Global()
@Module({
  providers: [
    TokenService,
    PasswordHasher,
    { provide: APP_GUARD, useClass: AccessGuard },
    { provide: APP_GUARD, useClass: PermissionsGuard },
  ],
  exports: [TokenService, PasswordHasher],
})
export class AuthModule {}
