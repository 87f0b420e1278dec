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
 * The tenant table as of `schemaVersion` (the tenant migrations say what each version adds):
 * 1 = keys + gsi1; 2 = + gsi2 (tenant-wide chat list by last update, for `chats:read:any`).
 */
export function tenantTableSpec(tableName: string, tenantId: string, schemaVersion: number): TableSpec {
  const spec = singleTableSpec(tableName, { app: 'chat-platform', role: 'tenant', tenantId });
  if (schemaVersion >= 2) {
    const gsi2 = genericIndex('gsi2');
    spec.create.AttributeDefinitions = [...(spec.create.AttributeDefinitions ?? []), ...gsi2.attributes];
    spec.create.GlobalSecondaryIndexes = [...(spec.create.GlobalSecondaryIndexes ?? []), gsi2.index];
  }
  return spec;
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
