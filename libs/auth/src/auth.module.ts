import { Global, Module } from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
import { AccessGuard } from './access.guard';
import { AccessTokenStrategy } from './access-token.strategy';
import { Authenticator } from './authenticator';
import { PasswordHasher } from './password-hasher';
import { PermissionsGuard } from './permissions.guard';
import { StreamTokenStrategy } from './stream-token.strategy';
import { TokenService } from './token.service';

/**
 * Token issuing and verification, password hashing, the application's Passport instance with the access-token
 * and stream-token strategies (the features register the others), and the two global guards (in this order).
 */
@Global()
@Module({
  providers: [
    TokenService,
    PasswordHasher,
    Authenticator,
    AccessTokenStrategy,
    StreamTokenStrategy,
    { provide: APP_GUARD, useClass: AccessGuard },
    { provide: APP_GUARD, useClass: PermissionsGuard },
  ],
  exports: [TokenService, PasswordHasher, Authenticator],
})
export class AuthModule {}
