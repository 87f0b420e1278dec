import { type DynamicModule, Module } from '@nestjs/common';
import { AuthModule } from '@lib/auth';
import { AppConfig, ConfigModule } from '@lib/config';
import { DynamoModule } from '@lib/dynamo';
import { ObservabilityModule } from '@lib/observability';
import { TenancyModule } from '@lib/tenancy';
import { OperatorsModule } from '@app/operators/operators.module';
import { TenantsModule } from '@app/tenants/tenants.module';

/** The same modules and services as the API, without HTTP. */
@Module({})
export class CliModule {
  static forRoot(config: AppConfig): DynamicModule {
    return {
      module: CliModule,
      imports: [
        ConfigModule.forRoot(config),
        ObservabilityModule,
        DynamoModule,
        TenancyModule,
        AuthModule,
        OperatorsModule,
        TenantsModule,
      ],
    };
  }
}
