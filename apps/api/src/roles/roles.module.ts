import { Module } from '@nestjs/common';
import { RolesCache } from './roles.cache';
import { RolesController } from './roles.controller';
import { RolesRepository } from './roles.repository';
import { RolesService } from './roles.service';

@Module({
  controllers: [RolesController],
  providers: [RolesRepository, RolesCache, RolesService],
  exports: [RolesCache, RolesService],
})
export class RolesModule {}
