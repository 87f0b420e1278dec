import { type BeforeApplicationShutdown, Injectable, Logger, type OnModuleInit } from '@nestjs/common';
import { UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { DynamoClients, DynamoInstrumentation, TenantKeys } from '@lib/dynamo';

export const CAPACITY_FLUSH_MS = 5_000;

interface Pending {
  tableName: string;
  read: number;
  write: number;
}

/**
 * Adds the DynamoDB capacity each tenant's requests consumed (from ReturnConsumedCapacity on every call) to the
 * month's usage item of that tenant (`USAGE#<month>` / `TOTAL`), in one UpdateItem per tenant every few
 * seconds. Its own writes ask for no capacity report, so they do not feed back into the counters.
 */
@Injectable()
export class CapacityRecorder implements OnModuleInit, BeforeApplicationShutdown {
  private readonly logger = new Logger(CapacityRecorder.name);
  private pending = new Map<string, Pending>();
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly instrumentation: DynamoInstrumentation,
    private readonly clients: DynamoClients,
  ) {}

  onModuleInit(): void {
    this.instrumentation.onCapacity(({ tenant, tableName, kind, units }) => {
      if (tenant === 'platform' || tenant === 'other' || tenant === 'none') return;
      const entry = this.pending.get(tableName) ?? { tableName, read: 0, write: 0 };
      entry[kind] += units;
      this.pending.set(tableName, entry);
    });
    this.timer = setInterval(() => void this.flush(), CAPACITY_FLUSH_MS);
    this.timer.unref();
  }

  async beforeApplicationShutdown(): Promise<void> {
    clearInterval(this.timer);
    await this.flush();
  }

  /** Writes what has accumulated; what fails to write is kept for the next round. */
  async flush(): Promise<void> {
    const batch = this.pending;
    this.pending = new Map();
    const month = new Date().toISOString().slice(0, 7);
    await Promise.all(
      [...batch.values()].map(async (entry) => {
        try {
          await this.clients.doc.send(
            new UpdateCommand({
              TableName: entry.tableName,
              Key: TenantKeys.usage(month, 'TOTAL'),
              UpdateExpression: 'ADD readCapacityUnits :r, writeCapacityUnits :w',
              ExpressionAttributeValues: { ':r': entry.read, ':w': entry.write },
              ReturnConsumedCapacity: 'NONE',
            }),
          );
        } catch (error) {
          const name = (error as Error).name;
          // A deleted tenant's table is gone: drop its figures. Anything else: retry next round.
          if (name === 'ResourceNotFoundException') return;
          const again = this.pending.get(entry.tableName) ?? { tableName: entry.tableName, read: 0, write: 0 };
          again.read += entry.read;
          again.write += entry.write;
          this.pending.set(entry.tableName, again);
          this.logger.warn(`capacity for ${entry.tableName} not recorded yet (${name}); will retry`);
        }
      }),
    );
  }
}
