import { genericIndex, type TableManager } from '@lib/dynamo';

export interface MigrationContext {
  tenantId: string;
  tableName: string;
  tables: TableManager;
}

/** One ordered, idempotent step that brings a tenant table from `version - 1` to `version`. */
export interface TenantMigration {
  version: number;
  description: string;
  apply(ctx: MigrationContext): Promise<void>;
}

/**
 * Schema history of tenant tables. Version 1 is the table as first shipped (keys, gsi1, TTL, stream).
 * New tenants are created at LATEST_SCHEMA_VERSION directly (tenantTableSpec knows every version).
 */
export const TENANT_MIGRATIONS: readonly TenantMigration[] = [
  {
    version: 2,
    description: 'add index gsi2 (tenant-wide chat list by last update, for chats:read:any)',
    async apply({ tableName, tables }) {
      const { index, attributes } = genericIndex('gsi2');
      await tables.ensureGlobalIndex(tableName, index, attributes);
    },
  },
];

export const LATEST_SCHEMA_VERSION = Math.max(1, ...TENANT_MIGRATIONS.map((m) => m.version));
