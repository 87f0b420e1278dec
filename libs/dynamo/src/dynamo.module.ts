import { Global, Logger, Module, type OnApplicationShutdown } from '@nestjs/common';
import { AppConfig } from '@lib/config';
import { MetricsService } from '@lib/observability';
import * as dynamoose from 'dynamoose';
import { CursorCodec } from './cursor';
import { createDynamoClients, DynamoClients } from './dynamo-clients';
import { attachFaultInjection } from './fault-injection';
import { DynamoInstrumentation } from './instrumentation';
import { TableManager } from './table-manager';

/**
 * One keep-alive DynamoDB client per process, instrumented, shared by the document client (tenant tables)
 * and dynamoose (control table models).
 */
@Global()
@Module({
  providers: [
    {
      provide: DynamoInstrumentation,
      inject: [MetricsService, AppConfig],
      useFactory: (metrics: MetricsService, config: AppConfig) =>
        new DynamoInstrumentation(metrics, config.dynamo.tablePrefix),
    },
    {
      provide: DynamoClients,
      inject: [AppConfig, DynamoInstrumentation],
      useFactory: (config: AppConfig, instrumentation: DynamoInstrumentation) => {
        const clients = createDynamoClients(config.dynamo);
        for (const client of [clients.ddb, clients.reads]) {
          instrumentation.attach(client);
          attachFaultInjection(client, config.dynamo.faults);
        }
        dynamoose.aws.ddb.set(clients.ddb);
        return clients;
      },
    },
    {
      provide: TableManager,
      inject: [DynamoClients],
      useFactory: (clients: DynamoClients) => new TableManager(clients.ddb, new Logger('Tables')),
    },
    {
      provide: CursorCodec,
      inject: [AppConfig],
      useFactory: (config: AppConfig) => new CursorCodec(config.cursorKey),
    },
  ],
  exports: [DynamoClients, DynamoInstrumentation, TableManager, CursorCodec],
})
export class DynamoModule implements OnApplicationShutdown {
  constructor(private readonly clients: DynamoClients) {}

  onApplicationShutdown(): void {
    this.clients.destroy();
  }
}
