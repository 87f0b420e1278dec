import type { LlmProviderName } from '@lib/config';
import * as dynamoose from 'dynamoose';
import type { AnyItem, Item } from 'dynamoose/dist/Item';
import type { ModelType } from 'dynamoose/dist/General';
import type { SchemaDefinition } from 'dynamoose/dist/Schema';
import { commitTransaction } from './transact';

/** Key builders of the control table, one place per entity (see docs/data-model.md). */
export const ControlKeys = {
  tenant: (id: string) => ({ pk: `TENANT#${id}`, sk: 'TENANT' }),
  tenantIndex: (createdAt: string, id: string) => ({ gsi1pk: 'TENANTS', gsi1sk: `${createdAt}#${id}` }),
  slug: (slug: string) => ({ pk: `SLUG#${slug}`, sk: 'SLUG' }),
  operator: (id: string) => ({ pk: `OPERATOR#${id}`, sk: 'OPERATOR' }),
  /** The operator list (gsi1), oldest first. */
  operatorIndex: (createdAt: string, id: string) => ({ gsi1pk: 'OPERATORS', gsi1sk: `${createdAt}#${id}` }),
  /** `enabledCount`: how many operators are enabled (the last one cannot be disabled). */
  operatorCount: () => ({ pk: 'OPERATORS', sk: 'COUNT' }),
  operatorEmail: (email: string) => ({ pk: `OPEMAIL#${email.toLowerCase()}`, sk: 'OPEMAIL' }),
  operatorSession: (operatorId: string, sessionId: string) => ({
    pk: `OPERATOR#${operatorId}`,
    sk: `SESSION#${sessionId}`,
  }),
  /** A change-feed record: one partition per hour of the writer's clock (`2026-11-29T13`), sorted by ULID. */
  change: (hour: string, ulid: string) => ({ pk: `CHANGES#${hour}`, sk: ulid }),
};

/** A tenant's lifecycle, in this one list: the type, the control table's schema and the API's enum come from it. */
export const TENANT_STATUSES = ['provisioning', 'active', 'suspended', 'deleting', 'deleted', 'failed'] as const;
export type TenantStatus = (typeof TENANT_STATUSES)[number];

/**
 * What a change record names (libs/tenancy change-feed.ts). Each kind is the cache entry that must be dropped on
 * every instance: `tenant` (status, settings, deletion), `user` (disabled, deleted, roles, sessions revoked),
 * `roles` (a tenant's roles: created, permissions changed, deleted), `operator` (disabled or enabled).
 */
export const CHANGE_KINDS = ['tenant', 'user', 'roles', 'operator', 'apiKey'] as const;
export type ChangeKind = (typeof CHANGE_KINDS)[number];

/** The tenant's own LLM, set by an operator; each field absent falls back to the deployment's LLM_* setting. */
export interface TenantLlmSettings {
  provider?: LlmProviderName;
  baseUrl?: string;
  model?: string;
  /** Stored, never returned (the API shows `apiKeySet`). */
  apiKey?: string;
}

/** What an operator sets on a tenant (PATCH /v1/tenants/{id}); the record keeps exactly these. */
export interface TenantSettings {
  /** Tokens per month for the whole tenant; null = unlimited. */
  monthlyTokenQuota: number | null;
  /** Tokens per user per month; null or absent = no per-user quota. */
  userMonthlyTokenQuota?: number | null;
  /** Days until chats and messages expire; null = kept forever. */
  retentionDays: number | null;
  llm?: TenantLlmSettings;
}

/** The first tenant admin, kept on the record while the tenant is provisioning (the hash, never the password). */
export interface PendingAdmin {
  id: string;
  email: string;
  name: string;
  passwordHash: string;
}

export interface TenantAttributes {
  pk: string;
  sk: string;
  gsi1pk: string;
  gsi1sk: string;
  id: string;
  slug: string;
  name: string;
  status: TenantStatus;
  tableName: string;
  schemaVersion: number;
  settings: TenantSettings;
  failureReason?: string;
  pendingAdmin?: PendingAdmin;
  /** The sha256 of the export this tenant was created from (docs/export-import.md): a re-run import resumes it. */
  importOf?: string;
  createdAt: string;
  updatedAt: string;
  version: number;
}

export interface OperatorAttributes {
  pk: string;
  sk: string;
  /** `OPERATORS` / `<createdAt>#<id>` (absent on operators created before the list: backfilled at boot). */
  gsi1pk?: string;
  gsi1sk?: string;
  id: string;
  email: string;
  name: string;
  passwordHash: string;
  disabled: boolean;
  /** Epoch seconds of the last disable: access tokens and sessions issued up to it stay refused after an enable. */
  tokensValidAfter?: number;
  createdAt: string;
  updatedAt: string;
  version: number;
}

export interface MarkerAttributes {
  pk: string;
  sk: string;
  /** The id of the entity that owns the unique value. */
  ownerId: string;
  createdAt: string;
}

/** `ControlKeys.operatorCount()`: how many operators are enabled. */
export interface OperatorCountAttributes {
  pk: string;
  sk: string;
  enabledCount: number;
}

/** A change-feed record (`ControlKeys.change`); DynamoDB TTL removes it after `expiresAt` (epoch seconds). */
export interface ChangeRecordAttributes {
  pk: string;
  sk: string;
  kind: ChangeKind;
  tenantId?: string;
  id?: string;
  expiresAt: number;
}

export type TenantItem = Item & TenantAttributes;
export type OperatorItem = Item & OperatorAttributes;
export type MarkerItem = Item & MarkerAttributes;
export type OperatorCountItem = Item & OperatorCountAttributes;
/**
 * An operator's refresh session. Its one item type is libs/auth's `RefreshSession` (the same for tenant users),
 * which this library cannot import; control-table.spec.ts checks the items `RefreshSessions` writes against the
 * schema below.
 */
export type OperatorSessionItem = AnyItem;
export type ChangeRecordItem = Item & ChangeRecordAttributes;

const keys = {
  pk: { type: String, hashKey: true },
  sk: { type: String, rangeKey: true },
} as const;

/** The list index of tenants and operators (`ControlKeys.tenantIndex`, `ControlKeys.operatorIndex`). */
const listIndex = {
  gsi1pk: { type: String, index: { name: 'gsi1', type: 'global', rangeKey: 'gsi1sk' } },
  gsi1sk: String,
} as const;

/** One write of a control-table transaction, as a model's `transaction.create/update/...` builds it. */
export type ControlWrite = Parameters<typeof dynamoose.transaction>[0][number];

/**
 * Runs a dynamoose transaction of control-table writes: undefined when it committed, or the cancellation code of
 * each write (`ConditionalCheckFailed`, `None`, ...) when a condition refused it; conflicts are retried as
 * `transactWrite` retries them.
 */
export function transactControl(writes: ControlWrite[]): Promise<string[] | undefined> {
  return commitTransaction(() => dynamoose.transaction(writes));
}

/**
 * dynamoose models of the control table, one per item kind (a fixed, small set of models on one table; low
 * traffic). Each owns its item's schema; keys are built by `ControlKeys` and the schemas declare the same `pk`/`sk`
 * (and `gsi1`) attributes (control-table.spec.ts checks items built with ControlKeys against every model).
 * Writes and reads off the request path go through the models; the few request-path reads and writes that
 * stay on the document client (docs/data-model.md, "Control table") use the same keys and are checked against
 * the models' schemas by the same spec.
 * Model names carry the table name because dynamoose registers models globally by name.
 * Tables are created by TableManager, never by dynamoose.
 */
export class ControlTable {
  readonly tenants: ModelType<TenantItem>;
  readonly operators: ModelType<OperatorItem>;
  /** Unique values: slugs (`ControlKeys.slug`) and operator e-mails (`ControlKeys.operatorEmail`). */
  readonly markers: ModelType<MarkerItem>;
  readonly operatorCount: ModelType<OperatorCountItem>;
  readonly operatorSessions: ModelType<OperatorSessionItem>;
  readonly changes: ModelType<ChangeRecordItem>;
  readonly table: InstanceType<typeof dynamoose.Table>;

  constructor(readonly tableName: string) {
    /** A model of one item kind: its attributes beside the table's keys, nothing else saved. */
    const model = <T extends Item>(kind: string, attributes: SchemaDefinition, saveUnknown: string[] = []) =>
      dynamoose.model<T>(
        `${tableName}:${kind}`,
        new dynamoose.Schema({ ...keys, ...attributes }, { saveUnknown, timestamps: false }),
      );
    this.tenants = model<TenantItem>(
      'Tenant',
      {
        ...listIndex,
        id: { type: String, required: true },
        slug: { type: String, required: true },
        name: { type: String, required: true },
        status: { type: String, required: true, enum: [...TENANT_STATUSES] },
        tableName: { type: String, required: true },
        schemaVersion: { type: Number, required: true },
        settings: { type: Object },
        failureReason: String,
        pendingAdmin: {
          type: Object,
          schema: { id: String, email: String, name: String, passwordHash: String },
        },
        importOf: String,
        createdAt: { type: String, required: true },
        updatedAt: { type: String, required: true },
        version: { type: Number, required: true },
      },
      ['settings.**'],
    );
    this.operators = model<OperatorItem>('Operator', {
      ...listIndex,
      id: { type: String, required: true },
      email: { type: String, required: true },
      name: { type: String, required: true },
      passwordHash: { type: String, required: true },
      disabled: { type: Boolean, required: true },
      tokensValidAfter: Number,
      createdAt: { type: String, required: true },
      updatedAt: { type: String, required: true },
      version: { type: Number, required: true },
    });
    this.markers = model<MarkerItem>('Marker', {
      ownerId: { type: String, required: true },
      createdAt: { type: String, required: true },
    });
    this.operatorCount = model<OperatorCountItem>('OperatorCount', { enabledCount: { type: Number, required: true } });
    this.operatorSessions = model<OperatorSessionItem>('OperatorSession', {
      ownerId: { type: String, required: true },
      sessionId: { type: String, required: true },
      refreshHash: { type: String, required: true },
      previousHashes: { type: Array, schema: [String], required: true },
      revoked: { type: Boolean, required: true },
      createdAt: { type: Number, required: true },
      expiresAt: { type: Number, required: true },
      grace: {
        type: Object,
        schema: {
          fromHash: { type: String, required: true },
          sealed: { type: String, required: true },
          until: { type: Number, required: true },
        },
      },
    });
    this.changes = model<ChangeRecordItem>('Change', {
      kind: { type: String, required: true, enum: [...CHANGE_KINDS] },
      tenantId: String,
      id: String,
      expiresAt: { type: Number, required: true },
    });
    const models = [
      this.tenants,
      this.operators,
      this.markers,
      this.operatorCount,
      this.operatorSessions,
      this.changes,
    ];
    this.table = new dynamoose.Table(tableName, models, {
      create: false,
      waitForActive: false,
      update: false,
      initialize: false,
    });
  }
}
