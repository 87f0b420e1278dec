import { Module } from '@nestjs/common';
import { LoginThrottle } from '../auth/login-throttle';
import { OperatorsController } from './operators.controller';
import { OperatorsRepository } from './operators.repository';
import { OperatorsService } from './operators.service';

@Module({
  controllers: [OperatorsController],
  providers: [OperatorsRepository, OperatorsService, LoginThrottle],
  exports: [OperatorsService],
})
export class OperatorsModule {}
