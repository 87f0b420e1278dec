import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { MetricsService } from '@lib/observability';
import { Counter, Histogram } from 'prom-client';
import { tenantOfTable } from './table-names';

/** Operations that accept ReturnConsumedCapacity, and whether they read or write. */
const CAPACITY_KIND: Record<string, 'read' | 'write'> = {
  GetItemCommand: 'read',
  QueryCommand: 'read',
  ScanCommand: 'read',
  BatchGetItemCommand: 'read',
  TransactGetItemsCommand: 'read',
  PutItemCommand: 'write',
  UpdateItemCommand: 'write',
  DeleteItemCommand: 'write',
  BatchWriteItemCommand: 'write',
  TransactWriteItemsCommand: 'write',
};

interface ConsumedCapacity {
  TableName?: string;
  CapacityUnits?: number;
}

export interface CapacityEvent {
  tableName: string;
  tenant: string;
  kind: 'read' | 'write';
  units: number;
}

/**
 * Instruments every call of the shared DynamoDB client (and so of the document client and dynamoose):
 * latency by operation, errors by code, retries, and consumed capacity by tenant via ReturnConsumedCapacity.
 */
export class DynamoInstrumentation {
  readonly duration: Histogram<'operation'>;
  readonly errors: Counter<'operation' | 'code'>;
  readonly retries: Counter<'operation'>;
  readonly capacity: Counter<'tenant' | 'kind'>;
  private readonly listeners: Array<(event: CapacityEvent) => void> = [];

  constructor(
    metrics: MetricsService,
    private readonly tablePrefix: string,
  ) {
    const registers = [metrics.registry];
    this.duration = new Histogram({
      name: 'dynamodb_request_duration_seconds',
      help: 'DynamoDB call latency by operation, retries included',
      labelNames: ['operation'],
      buckets: [0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers,
    });
    this.errors = new Counter({
      name: 'dynamodb_errors_total',
      help: 'Failed DynamoDB calls by operation and error code',
      labelNames: ['operation', 'code'],
      registers,
    });
    this.retries = new Counter({
      name: 'dynamodb_retries_total',
      help: 'Extra attempts the SDK made after retryable errors, by operation',
      labelNames: ['operation'],
      registers,
    });
    this.capacity = new Counter({
      name: 'dynamodb_consumed_capacity_units_total',
      help: 'Consumed capacity units by tenant (platform = control table) and kind',
      labelNames: ['tenant', 'kind'],
      registers,
    });
  }

  /** Called with every consumed-capacity report (usage accounting subscribes here). */
  onCapacity(listener: (event: CapacityEvent) => void): void {
    this.listeners.push(listener);
  }

  attach(client: DynamoDBClient): void {
    client.middlewareStack.add(
      (next, context) => async (args) => {
        const command = context.commandName ?? 'Unknown';
        const operation = command.replace(/Command$/, '');
        const kind = CAPACITY_KIND[command];
        const input = args.input as Record<string, unknown>;
        if (kind && input.ReturnConsumedCapacity === undefined) input.ReturnConsumedCapacity = 'TOTAL';
        const stop = this.duration.startTimer({ operation });
        try {
          const result = await next(args);
          const output = result.output as {
            ConsumedCapacity?: ConsumedCapacity | ConsumedCapacity[];
            $metadata?: { attempts?: number };
          };
          const attempts = output.$metadata?.attempts ?? 1;
          if (attempts > 1) this.retries.inc({ operation }, attempts - 1);
          if (kind && output.ConsumedCapacity) this.recordCapacity(kind, output.ConsumedCapacity);
          return result;
        } catch (error) {
          const err = error as { name?: string; $metadata?: { attempts?: number } };
          this.errors.inc({ operation, code: err.name ?? 'Error' });
          const attempts = err.$metadata?.attempts ?? 1;
          if (attempts > 1) this.retries.inc({ operation }, attempts - 1);
          throw error;
        } finally {
          stop();
        }
      },
      { step: 'initialize', name: 'chatPlatformInstrumentation', override: true },
    );
  }

  private recordCapacity(kind: 'read' | 'write', consumed: ConsumedCapacity | ConsumedCapacity[]): void {
    for (const entry of Array.isArray(consumed) ? consumed : [consumed]) {
      if (!entry.TableName || !entry.CapacityUnits) continue;
      const tenant = tenantOfTable(this.tablePrefix, entry.TableName);
      this.capacity.inc({ tenant, kind }, entry.CapacityUnits);
      for (const listener of this.listeners)
        listener({ tableName: entry.TableName, tenant, kind, units: entry.CapacityUnits });
    }
  }
}
