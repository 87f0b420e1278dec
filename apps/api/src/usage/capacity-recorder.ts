import { type BeforeApplicationShutdown, Injectable, Logger, type OnModuleInit } from '@nestjs/common';
import { DynamoInstrumentation } from '@lib/dynamo';
import { RequestContext, TenantRegistry } from '@lib/tenancy';
import { UsageRepository } from './usage.repository';

export const CAPACITY_FLUSH_MS = 5_000;

interface Pending {
  tenantId: string;
  read: number;
  write: number;
}

/**
 * Adds the DynamoDB capacity each tenant's requests consumed (from ReturnConsumedCapacity on every call) to the
 * month's usage item of that tenant (its total, `Entities.usage`), in one UpdateItem per tenant every few
 * seconds, through the usage repository inside that tenant's scope (the tenant resolved from the registry's
 * cache). Its own writes ask for no capacity report, so they do not feed back into the counters.
 */
@Injectable()
export class CapacityRecorder implements OnModuleInit, BeforeApplicationShutdown {
  private readonly logger = new Logger(CapacityRecorder.name);
  private pending = new Map<string, Pending>();
  private flushing: Promise<void> = Promise.resolve();
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly instrumentation: DynamoInstrumentation,
    private readonly registry: TenantRegistry,
    private readonly usage: UsageRepository,
  ) {}

  onModuleInit(): void {
    // `tenant` is the id of the tenant whose table consumed the capacity (from the table's name).
    this.instrumentation.onCapacity(({ tenant, kind, units }) => {
      if (tenant === 'platform' || tenant === 'other' || tenant === 'none') return;
      const entry = this.pending.get(tenant) ?? { tenantId: tenant, read: 0, write: 0 };
      entry[kind] += units;
      this.pending.set(tenant, entry);
    });
    this.timer = setInterval(() => void this.flush(), CAPACITY_FLUSH_MS);
    this.timer.unref();
  }

  async beforeApplicationShutdown(): Promise<void> {
    clearInterval(this.timer);
    await this.flush();
  }

  /**
   * Writes what has accumulated; what fails to write is kept for the next round. Flushes run one after another:
   * a caller (shutdown, a test) that flushes while the timer's flush is writing waits for it, then writes what
   * came since.
   */
  flush(): Promise<void> {
    this.flushing = this.flushing.catch(() => undefined).then(() => this.writePending());
    return this.flushing;
  }

  private async writePending(): Promise<void> {
    const batch = this.pending;
    this.pending = new Map();
    const month = new Date().toISOString().slice(0, 7);
    await Promise.all(
      [...batch.values()].map(async (entry) => {
        try {
          const tenant = await this.registry.resolve(entry.tenantId);
          // No such tenant in the control table: nothing to record against.
          if (!tenant) return;
          await RequestContext.runWithTenant(tenant, () => this.usage.addCapacity(month, entry.read, entry.write));
        } catch (error) {
          const name = (error as Error).name;
          // A deleted tenant's table is gone: drop its figures. Anything else: retry next round.
          if (name === 'ResourceNotFoundException') return;
          const again = this.pending.get(entry.tenantId) ?? { tenantId: entry.tenantId, read: 0, write: 0 };
          again.read += entry.read;
          again.write += entry.write;
          this.pending.set(entry.tenantId, again);
          this.logger.warn(`capacity for tenant ${entry.tenantId} not recorded yet (${name}); will retry`);
        }
      }),
    );
  }
}
