import { type DynamicModule, Module } from '@nestjs/common';
import { APP_FILTER } from '@nestjs/core';
import { AuthModule } from '@lib/auth';
import { AppConfig, ConfigModule } from '@lib/config';
import { DynamoModule } from '@lib/dynamo';
import { ObservabilityModule } from '@lib/observability';
import { TenancyModule } from '@lib/tenancy';
import { ApiKeysModule } from './api-keys/api-keys.module';
import { ProblemFilter } from './common/problem.filter';
import { HealthModule } from './health/health.module';
import { MetricsModule } from './metrics/metrics.module';
import { OperatorsModule } from './operators/operators.module';
import { TenantAuthModule } from './auth/auth.module';
import { ChatsModule } from './chats/chats.module';
import { RolesModule } from './roles/roles.module';
import { BootReconciler } from './tenants/boot-reconciler';
import { TenantsModule } from './tenants/tenants.module';
import { UsageModule } from './usage/usage.module';
import { UsersModule } from './users/users.module';

@Module({})
export class AppModule {
  static forRoot(config: AppConfig): DynamicModule {
    return {
      module: AppModule,
      imports: [
        ConfigModule.forRoot(config),
        ObservabilityModule,
        DynamoModule,
        TenancyModule,
        AuthModule,
        HealthModule,
        MetricsModule,
        OperatorsModule,
        TenantsModule,
        TenantAuthModule,
        UsersModule,
        RolesModule,
        ChatsModule,
        UsageModule,
        ApiKeysModule,
      ],
      providers: [{ provide: APP_FILTER, useClass: ProblemFilter }, BootReconciler],
    };
  }
}
