import { Global, Module } from '@nestjs/common';
import { PLATFORM_CALLER_RESOLVER } from '@lib/auth';
import { LoginThrottle } from '../auth/login-throttle';
import { OperatorCache } from './operator.cache';
import { OperatorCallerResolver } from './operator-caller-resolver';
import { OperatorsController } from './operators.controller';
import { OperatorsRepository } from './operators.repository';
import { OperatorsService } from './operators.service';

/** Platform operators, and the caller resolver the global AccessGuard uses for platform tokens. */
@Global()
@Module({
  controllers: [OperatorsController],
  providers: [
    OperatorsRepository,
    OperatorsService,
    LoginThrottle,
    OperatorCache,
    OperatorCallerResolver,
    { provide: PLATFORM_CALLER_RESOLVER, useExisting: OperatorCallerResolver },
  ],
  exports: [OperatorsService, PLATFORM_CALLER_RESOLVER],
})
export class OperatorsModule {}
