import type { AttributeDefinition, CreateTableCommandInput, GlobalSecondaryIndex } from '@aws-sdk/client-dynamodb';

/** What a table needs beyond CreateTable: TTL, backups, protection, tags. */
export interface TableSpec {
  create: CreateTableCommandInput & { TableName: string };
  ttlAttribute: string;
  pointInTimeRecovery: boolean;
  deletionProtection: boolean;
  tags: Record<string, string>;
}

/**
 * Both table kinds share one shape: string keys `pk`/`sk`, one generic index `gsi1` (`gsi1pk`/`gsi1sk`,
 * all attributes projected), TTL on `expiresAt`, a NEW_AND_OLD_IMAGES stream, on-demand billing.
 * The items each table holds are listed in docs/data-model.md.
 */
function singleTableSpec(tableName: string, tags: Record<string, string>): TableSpec {
  return {
    create: {
      TableName: tableName,
      BillingMode: 'PAY_PER_REQUEST',
      AttributeDefinitions: [
        { AttributeName: 'pk', AttributeType: 'S' },
        { AttributeName: 'sk', AttributeType: 'S' },
        { AttributeName: 'gsi1pk', AttributeType: 'S' },
        { AttributeName: 'gsi1sk', AttributeType: 'S' },
      ],
      KeySchema: [
        { AttributeName: 'pk', KeyType: 'HASH' },
        { AttributeName: 'sk', KeyType: 'RANGE' },
      ],
      GlobalSecondaryIndexes: [
        {
          IndexName: 'gsi1',
          KeySchema: [
            { AttributeName: 'gsi1pk', KeyType: 'HASH' },
            { AttributeName: 'gsi1sk', KeyType: 'RANGE' },
          ],
          Projection: { ProjectionType: 'ALL' },
        },
      ],
      StreamSpecification: { StreamEnabled: true, StreamViewType: 'NEW_AND_OLD_IMAGES' },
      SSESpecification: { Enabled: true },
    },
    ttlAttribute: 'expiresAt',
    pointInTimeRecovery: true,
    deletionProtection: true,
    tags,
  };
}

export function controlTableSpec(tableName: string): TableSpec {
  return singleTableSpec(tableName, { app: 'chat-platform', role: 'control' });
}

/** A generic global index `<name>` on `<name>pk`/`<name>sk`, all attributes projected. */
export function genericIndex(name: string): { index: GlobalSecondaryIndex; attributes: AttributeDefinition[] } {
  return {
    index: {
      IndexName: name,
      KeySchema: [
        { AttributeName: `${name}pk`, KeyType: 'HASH' },
        { AttributeName: `${name}sk`, KeyType: 'RANGE' },
      ],
      Projection: { ProjectionType: 'ALL' },
    },
    attributes: [
      { AttributeName: `${name}pk`, AttributeType: 'S' },
      { AttributeName: `${name}sk`, AttributeType: 'S' },
    ],
  };
}

/**
 * The tenant table: the shared shape, nothing more (keys and `gsi1`). Every tenant migration is an idempotent
 * step that is a no-op on a table built here, so a table created for a record at an older schema version is
 * already in the latest shape and the migrations only move the record's version.
 */
export function tenantTableSpec(tableName: string, tenantId: string): TableSpec {
  return singleTableSpec(tableName, { app: 'chat-platform', role: 'tenant', tenantId });
}

/** The rate-limit table: one per deployment, shared by every API instance (limits hold across instances). */
export function rateLimitTableSpec(tableName: string): TableSpec {
  return {
    create: {
      TableName: tableName,
      BillingMode: 'PAY_PER_REQUEST',
      AttributeDefinitions: [{ AttributeName: 'key', AttributeType: 'S' }],
      KeySchema: [{ AttributeName: 'key', KeyType: 'HASH' }],
    },
    ttlAttribute: 'expire',
    pointInTimeRecovery: false,
    deletionProtection: false,
    tags: { app: 'chat-platform', role: 'rate-limits' },
  };
}
