import {
  type AttributeDefinition,
  CreateTableCommand,
  DeleteTableCommand,
  DescribeContinuousBackupsCommand,
  DescribeTableCommand,
  DescribeTimeToLiveCommand,
  type DynamoDBClient,
  type GlobalSecondaryIndex,
  ListTablesCommand,
  TagResourceCommand,
  type TableDescription,
  UpdateContinuousBackupsCommand,
  UpdateTableCommand,
  UpdateTimeToLiveCommand,
  waitUntilTableExists,
  waitUntilTableNotExists,
} from '@aws-sdk/client-dynamodb';
import type { TableSpec } from './table-definitions';

export interface TableLog {
  log(message: string): void;
  warn(message: string): void;
}

export interface EnsureTableReport {
  tableName: string;
  created: boolean;
  /** Features the endpoint does not support (DynamoDB Local: PITR, tagging, ...). */
  skipped: string[];
}

const NOT_SUPPORTED = new Set(['UnknownOperationException', 'UnrecognizedClientException', 'NotImplemented']);

/** Features already reported as unsupported by this process's endpoint (see TableManager.reportSkipped). */
const reportedSkips = new Set<string>();

function errorName(error: unknown): string {
  return (error as { name?: string }).name ?? 'Error';
}

/**
 * Idempotent create-and-wait and delete-and-wait for tables. Safe to run concurrently and to re-run after a
 * crash at any step: every step first looks at what is already there.
 */
export class TableManager {
  constructor(
    private readonly ddb: DynamoDBClient,
    private readonly logger: TableLog,
    private readonly maxWaitSeconds = 300,
  ) {}

  async describe(tableName: string): Promise<TableDescription | undefined> {
    try {
      const { Table } = await this.ddb.send(new DescribeTableCommand({ TableName: tableName }));
      return Table;
    } catch (error) {
      if (errorName(error) === 'ResourceNotFoundException') return undefined;
      throw error;
    }
  }

  /** Creates the table if missing, waits until ACTIVE, then turns on TTL, PITR, protection and tags. */
  async ensureTable(spec: TableSpec): Promise<EnsureTableReport> {
    const tableName = spec.create.TableName;
    const report: EnsureTableReport = { tableName, created: false, skipped: [] };
    let table = await this.describe(tableName);
    if (!table) {
      report.created = await this.create(spec);
      table = await this.waitActive(tableName);
    } else if (table.TableStatus !== 'ACTIVE') {
      table = await this.waitActive(tableName);
    }
    await this.ensureTtl(tableName, spec.ttlAttribute);
    if (spec.pointInTimeRecovery) await this.ensurePitr(tableName, report);
    if (spec.deletionProtection && !table.DeletionProtectionEnabled) await this.ensureProtection(tableName, report);
    if (Object.keys(spec.tags).length > 0 && table.TableArn) await this.ensureTags(table.TableArn, spec.tags, report);
    this.reportSkipped(tableName, report.skipped);
    return report;
  }

  /**
   * Says once per process which features the endpoint lacks (every table would repeat it): at info level on a
   * custom endpoint (DynamoDB Local, which has no PITR or tagging), as a warning against AWS, where it is not
   * expected.
   */
  private reportSkipped(tableName: string, skipped: string[]): void {
    const fresh = skipped.filter((feature) => !reportedSkips.has(feature));
    if (fresh.length === 0) return;
    for (const feature of fresh) reportedSkips.add(feature);
    const message = `not supported by this endpoint, skipped on its tables: ${fresh.join(', ')} (first seen on ${tableName})`;
    if (this.ddb.config.isCustomEndpoint) this.logger.log(message);
    else this.logger.warn(message);
  }

  private async create(spec: TableSpec): Promise<boolean> {
    try {
      await this.ddb.send(
        new CreateTableCommand({ ...spec.create, DeletionProtectionEnabled: spec.deletionProtection }),
      );
      this.logger.log(`table ${spec.create.TableName}: created`);
      return true;
    } catch (error) {
      // Another instance or run created it first: fine, we wait for it below.
      if (errorName(error) === 'ResourceInUseException') return false;
      throw error;
    }
  }

  private async waitActive(tableName: string): Promise<TableDescription> {
    await waitUntilTableExists(
      { client: this.ddb, maxWaitTime: this.maxWaitSeconds, minDelay: 1, maxDelay: 5 },
      { TableName: tableName },
    );
    const table = await this.describe(tableName);
    if (!table) throw new Error(`table ${tableName} disappeared while waiting for it`);
    return table;
  }

  private async ensureTtl(tableName: string, attribute: string): Promise<void> {
    const { TimeToLiveDescription } = await this.ddb.send(new DescribeTimeToLiveCommand({ TableName: tableName }));
    const status = TimeToLiveDescription?.TimeToLiveStatus;
    if (status === 'ENABLED' || status === 'ENABLING') return;
    try {
      await this.ddb.send(
        new UpdateTimeToLiveCommand({
          TableName: tableName,
          TimeToLiveSpecification: { AttributeName: attribute, Enabled: true },
        }),
      );
    } catch (error) {
      // A concurrent run enabled it between our read and our write.
      if (errorName(error) !== 'ValidationException') throw error;
    }
  }

  private async ensurePitr(tableName: string, report: EnsureTableReport): Promise<void> {
    try {
      const { ContinuousBackupsDescription: d } = await this.ddb.send(
        new DescribeContinuousBackupsCommand({ TableName: tableName }),
      );
      if (d?.PointInTimeRecoveryDescription?.PointInTimeRecoveryStatus === 'ENABLED') return;
      await this.ddb.send(
        new UpdateContinuousBackupsCommand({
          TableName: tableName,
          PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
        }),
      );
    } catch (error) {
      if (!NOT_SUPPORTED.has(errorName(error))) throw error;
      report.skipped.push('point-in-time recovery');
    }
  }

  private async ensureProtection(tableName: string, report: EnsureTableReport): Promise<void> {
    try {
      await this.ddb.send(new UpdateTableCommand({ TableName: tableName, DeletionProtectionEnabled: true }));
      await this.waitActive(tableName);
    } catch (error) {
      if (!NOT_SUPPORTED.has(errorName(error)) && errorName(error) !== 'ValidationException') throw error;
      report.skipped.push('deletion protection');
    }
  }

  private async ensureTags(arn: string, tags: Record<string, string>, report: EnsureTableReport): Promise<void> {
    try {
      await this.ddb.send(
        new TagResourceCommand({
          ResourceArn: arn,
          Tags: Object.entries(tags).map(([Key, Value]) => ({ Key, Value })),
        }),
      );
    } catch (error) {
      if (!NOT_SUPPORTED.has(errorName(error)) && errorName(error) !== 'ValidationException') throw error;
      report.skipped.push('tags');
    }
  }

  /** Adds a global index if the table lacks it, and waits until the index is ACTIVE. Idempotent. */
  async ensureGlobalIndex(
    tableName: string,
    index: GlobalSecondaryIndex,
    attributes: AttributeDefinition[],
  ): Promise<boolean> {
    const table = await this.describe(tableName);
    if (!table) throw new Error(`table ${tableName} does not exist`);
    let created = false;
    if (!table.GlobalSecondaryIndexes?.some((i) => i.IndexName === index.IndexName)) {
      try {
        await this.ddb.send(
          new UpdateTableCommand({
            TableName: tableName,
            AttributeDefinitions: attributes,
            GlobalSecondaryIndexUpdates: [{ Create: index }],
          }),
        );
        created = true;
        this.logger.log(`table ${tableName}: creating index ${index.IndexName}`);
      } catch (error) {
        // A concurrent run started the same index (or another table update is in progress): wait below.
        if (!['ResourceInUseException', 'LimitExceededException'].includes(errorName(error))) throw error;
      }
    }
    await this.waitForIndex(tableName, index.IndexName ?? '', (current) => current?.IndexStatus === 'ACTIVE');
    return created;
  }

  /**
   * Deletes a global index if the table has it, and waits until it is gone and the table is ACTIVE. Idempotent:
   * a table without the index (never had it, or a previous run deleted it) is done; an index already DELETING
   * (a run that crashed after asking) is waited for.
   */
  async dropGlobalIndex(tableName: string, indexName: string): Promise<boolean> {
    const table = await this.describe(tableName);
    if (!table) throw new Error(`table ${tableName} does not exist`);
    const status = table.GlobalSecondaryIndexes?.find((i) => i.IndexName === indexName)?.IndexStatus;
    let deleted = false;
    if (status && status !== 'DELETING') {
      try {
        await this.ddb.send(
          new UpdateTableCommand({
            TableName: tableName,
            GlobalSecondaryIndexUpdates: [{ Delete: { IndexName: indexName } }],
          }),
        );
        deleted = true;
        this.logger.log(`table ${tableName}: deleting index ${indexName}`);
      } catch (error) {
        // A concurrent run asked first (or another table update is in progress): wait below.
        if (
          !['ResourceInUseException', 'LimitExceededException', 'ResourceNotFoundException'].includes(errorName(error))
        )
          throw error;
      }
    }
    await this.waitForIndex(tableName, indexName, (index) => index === undefined);
    return deleted;
  }

  /** Polls until the table is ACTIVE and `done` holds for the named index (undefined: the table has none). */
  private async waitForIndex(
    tableName: string,
    indexName: string,
    done: (index: { IndexStatus?: string } | undefined) => boolean,
  ): Promise<void> {
    const deadline = Date.now() + this.maxWaitSeconds * 1000;
    for (;;) {
      const current = await this.describe(tableName);
      const index = current?.GlobalSecondaryIndexes?.find((i) => i.IndexName === indexName);
      if (current?.TableStatus === 'ACTIVE' && done(index)) return;
      if (Date.now() > deadline) throw new Error(`index ${indexName} on ${tableName} not settled in time`);
      await new Promise((r) => setTimeout(r, 1000));
    }
  }

  /** Drops deletion protection, deletes the table and waits until it is gone. Missing table: done. */
  async dropTable(tableName: string): Promise<void> {
    const table = await this.describe(tableName);
    if (!table) return;
    if (table.DeletionProtectionEnabled) {
      await this.ddb.send(new UpdateTableCommand({ TableName: tableName, DeletionProtectionEnabled: false }));
      await this.waitActive(tableName);
    }
    try {
      await this.ddb.send(new DeleteTableCommand({ TableName: tableName }));
    } catch (error) {
      // Gone already, or another run is deleting it: either way, wait until it is gone.
      if (!['ResourceNotFoundException', 'ResourceInUseException'].includes(errorName(error))) throw error;
    }
    await waitUntilTableNotExists(
      { client: this.ddb, maxWaitTime: this.maxWaitSeconds, minDelay: 1, maxDelay: 5 },
      { TableName: tableName },
    );
    this.logger.log(`table ${tableName}: deleted`);
  }

  /** All table names with the prefix (paginated ListTables; operator tooling only, never a request path). */
  async listTables(prefix: string): Promise<string[]> {
    const names: string[] = [];
    let start: string | undefined;
    do {
      const page = await this.ddb.send(new ListTablesCommand({ ExclusiveStartTableName: start, Limit: 100 }));
      names.push(...(page.TableNames ?? []).filter((n) => n.startsWith(prefix)));
      start = page.LastEvaluatedTableName;
    } while (start);
    return names;
  }
}
