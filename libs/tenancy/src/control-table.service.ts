import { Injectable, Logger, type OnModuleInit } from '@nestjs/common';
import { AppConfig } from '@lib/config';
import { ControlTable, controlTableName, controlTableSpec, TableManager } from '@lib/dynamo';
import { setTimeout as sleep } from 'node:timers/promises';

/** The control table: its dynamoose models, and its creation at boot when missing. */
@Injectable()
export class ControlTableService implements OnModuleInit {
  private readonly logger = new Logger(ControlTableService.name);
  readonly models: ControlTable;
  readonly tableName: string;

  constructor(
    config: AppConfig,
    private readonly tables: TableManager,
  ) {
    this.tableName = controlTableName(config.dynamo.tablePrefix);
    this.models = new ControlTable(this.tableName);
  }

  /** Creates the control table if missing; retries for up to a minute while DynamoDB comes up. */
  async onModuleInit(): Promise<void> {
    const deadline = Date.now() + 60_000;
    for (let attempt = 1; ; attempt++) {
      try {
        const report = await this.tables.ensureTable(controlTableSpec(this.tableName));
        // dynamoose's own setup flow (create/update/wait are off: TableManager owns the table).
        await this.models.table.initialize();
        this.logger.log(`control table ${this.tableName} ${report.created ? 'created' : 'ready'}`);
        return;
      } catch (error) {
        if (Date.now() > deadline) throw error;
        const delay = Math.min(5000, 250 * 2 ** attempt);
        this.logger.warn(`control table not ready (${(error as Error).name}); retrying in ${delay} ms`);
        await sleep(delay);
      }
    }
  }

  /** Readiness: the control table exists and is ACTIVE. */
  async isActive(): Promise<boolean> {
    const table = await this.tables.describe(this.tableName);
    return table?.TableStatus === 'ACTIVE';
  }
}
