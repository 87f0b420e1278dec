import { Module } from '@nestjs/common';
import { RolesModule } from '../roles/roles.module';
import { UserCache } from './user.cache';
import { UsersController } from './users.controller';
import { UsersRepository } from './users.repository';
import { UsersService } from './users.service';

@Module({
  imports: [RolesModule],
  controllers: [UsersController],
  providers: [UsersRepository, UserCache, UsersService],
  exports: [UsersRepository, UserCache],
})
export class UsersModule {}
