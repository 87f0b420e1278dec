import { Module } from '@nestjs/common';
import { ChatsModule } from '../chats/chats.module';
import { RolesModule } from '../roles/roles.module';
import { PasswordResetService } from './password-reset.service';
import { UserCache } from './user.cache';
import { UsersController } from './users.controller';
import { UsersRepository } from './users.repository';
import { UsersService } from './users.service';

@Module({
  imports: [RolesModule, ChatsModule],
  controllers: [UsersController],
  providers: [UsersRepository, UserCache, UsersService, PasswordResetService],
  exports: [UsersRepository, UserCache, PasswordResetService],
})
export class UsersModule {}
