import { Module } from '@nestjs/common';
import { RolesModule } from '../roles/roles.module';
import { UsersModule } from '../users/users.module';
import { ApiKeyCache } from './api-key.cache';
import { ApiKeyStrategy } from './api-key.strategy';
import { ApiKeysController } from './api-keys.controller';
import { ApiKeysRepository } from './api-keys.repository';
import { ApiKeysService } from './api-keys.service';

/** API keys of service accounts: their management routes and the api-key strategy of the global guard. */
@Module({
  imports: [UsersModule, RolesModule],
  controllers: [ApiKeysController],
  providers: [ApiKeysRepository, ApiKeyCache, ApiKeysService, ApiKeyStrategy],
})
export class ApiKeysModule {}
