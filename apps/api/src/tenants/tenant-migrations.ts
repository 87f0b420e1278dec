import type { TableManager } from '@lib/dynamo';

export interface MigrationContext {
  tenantId: string;
  tableName: string;
  tables: TableManager;
}

/**
 * One ordered step that brings a tenant table from `version - 1` to `version`. Idempotent and resumable: re-run
 * after a crash, or on a table that is already in the step's shape (every table `tenantTableSpec` creates is in
 * the latest shape), it does nothing.
 */
export interface TenantMigration {
  version: number;
  description: string;
  apply(ctx: MigrationContext): Promise<void>;
}

/**
 * Schema versions of tenant tables. Version 1 is keys, gsi1, TTL and stream. New tenants are created at
 * LATEST_SCHEMA_VERSION directly; `tenants:migrate` applies the steps above a record's version, in order.
 */
export const TENANT_MIGRATIONS: readonly TenantMigration[] = [
  {
    // Version 2's index gsi2 is deleted by version 3, so a table still at version 1 needs nothing here.
    version: 2,
    description: 'no change (index gsi2, deleted at version 3)',
    async apply() {},
  },
  {
    // No route lists a tenant's chats tenant-wide, so nothing writes gsi2pk/gsi2sk and the index is empty. Such a
    // list would put every chat of a tenant under one constant partition key (`CHATS`): a hot index partition, and
    // one more index write per chat update. Deleting the index is a no-op on a table that never had it, and waits
    // for a deletion a crashed run already started.
    version: 3,
    description: 'delete the unused index gsi2',
    async apply({ tableName, tables }) {
      await tables.dropGlobalIndex(tableName, 'gsi2');
    },
  },
];

export const LATEST_SCHEMA_VERSION = Math.max(1, ...TENANT_MIGRATIONS.map((m) => m.version));
