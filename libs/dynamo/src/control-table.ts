import type { LlmProviderName } from '@lib/config';
import * as dynamoose from 'dynamoose';
import type { Item } from 'dynamoose/dist/Item';
import type { ModelType } from 'dynamoose/dist/General';

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

export type TenantItem = Item & TenantAttributes;
export type OperatorItem = Item & OperatorAttributes;
export type MarkerItem = Item & MarkerAttributes;

const keys = {
  pk: { type: String, hashKey: true },
  sk: { type: String, rangeKey: true },
} as const;

/**
 * dynamoose models of the control table (a fixed, small set of models on one table; low traffic).
 * Model names carry the table name because dynamoose registers models globally by name.
 * Tables are created by TableManager, never by dynamoose.
 */
export class ControlTable {
  readonly tenants: ModelType<TenantItem>;
  readonly operators: ModelType<OperatorItem>;
  readonly markers: ModelType<MarkerItem>;
  readonly table: InstanceType<typeof dynamoose.Table>;

  constructor(readonly tableName: string) {
    const options = { saveUnknown: false, timestamps: false };
    this.tenants = dynamoose.model<TenantItem>(
      `${tableName}:Tenant`,
      new dynamoose.Schema(
        {
          ...keys,
          gsi1pk: { type: String, index: { name: 'gsi1', type: 'global', rangeKey: 'gsi1sk' } },
          gsi1sk: String,
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
          createdAt: { type: String, required: true },
          updatedAt: { type: String, required: true },
          version: { type: Number, required: true },
        },
        { ...options, saveUnknown: ['settings.**'] },
      ),
    );
    this.operators = dynamoose.model<OperatorItem>(
      `${tableName}:Operator`,
      new dynamoose.Schema(
        {
          ...keys,
          gsi1pk: { type: String, index: { name: 'gsi1', type: 'global', rangeKey: 'gsi1sk' } },
          gsi1sk: String,
          id: { type: String, required: true },
          email: { type: String, required: true },
          name: { type: String, required: true },
          passwordHash: { type: String, required: true },
          disabled: { type: Boolean, required: true },
          tokensValidAfter: Number,
          createdAt: { type: String, required: true },
          updatedAt: { type: String, required: true },
          version: { type: Number, required: true },
        },
        options,
      ),
    );
    this.markers = dynamoose.model<MarkerItem>(
      `${tableName}:Marker`,
      new dynamoose.Schema(
        { ...keys, ownerId: { type: String, required: true }, createdAt: { type: String, required: true } },
        options,
      ),
    );
    this.table = new dynamoose.Table(tableName, [this.tenants, this.operators, this.markers], {
      create: false,
      waitForActive: false,
      update: false,
      initialize: false,
    });
  }
}
