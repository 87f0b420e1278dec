import { Injectable } from '@nestjs/common';
import {
  ControlKeys,
  type DynamoKey,
  type TenantAttributes,
  type TenantItem,
  type TenantStatus,
  transactControl,
} from '@lib/dynamo';
import { ChangeFeed, ControlTableService } from '@lib/tenancy';
import * as dynamoose from 'dynamoose';

export interface TenantPage {
  items: TenantAttributes[];
  lastKey: DynamoKey | undefined;
}

type TenantChanges = Partial<Omit<TenantAttributes, 'pk' | 'sk' | 'id' | 'version'>>;

/**
 * Tenant records and slug markers in the control table, entirely through their dynamoose models (operator
 * writes and the tenant list: never on a tenant request's path). The request-path read of a tenant is the
 * TenantRegistry's (libs/tenancy), on the document client with the same key and schema.
 */
@Injectable()
export class TenantsRepository {
  constructor(
    private readonly control: ControlTableService,
    private readonly feed: ChangeFeed,
  ) {}

  private get models() {
    return this.control.models;
  }

  async get(id: string): Promise<TenantAttributes | undefined> {
    const item = await this.models.tenants.get(ControlKeys.tenant(id), { consistent: true });
    return item ? attributes(item) : undefined;
  }

  /** The tenant that owns `slug` (deleted tenants keep their slug). */
  async getBySlug(slug: string): Promise<TenantAttributes | undefined> {
    const marker = await this.models.markers.get(ControlKeys.slug(slug), { consistent: true });
    return marker ? this.get(marker.ownerId) : undefined;
  }

  /** The record (status provisioning) and its slug marker, in one transaction; false when the slug is taken. */
  async createWithSlug(record: TenantAttributes): Promise<boolean> {
    // `create` writes only where no item has the key (attribute_not_exists): the record's id is new, the slug may not be.
    const refused = await transactControl([
      this.models.tenants.transaction.create(record),
      this.models.markers.transaction.create({
        ...ControlKeys.slug(record.slug),
        ownerId: record.id,
        createdAt: record.createdAt,
      }),
    ]);
    return !refused;
  }

  /** A page of tenants, newest first (gsi1 `TENANTS`), optionally only those with `statuses`. */
  async list(limit: number, startKey: DynamoKey | undefined, statuses?: TenantStatus[]): Promise<TenantPage> {
    let query = this.models.tenants
      .query('gsi1pk')
      .eq(ControlKeys.tenantIndex('', '').gsi1pk)
      .using('gsi1')
      .sort('descending')
      .limit(limit);
    if (statuses?.length) query = query.and().where('status').in(statuses);
    if (startKey) query = query.startAt(startKey);
    const page = await query.exec();
    return { items: page.map(attributes), lastKey: page.lastKey as DynamoKey | undefined };
  }

  /** Every tenant with one of `statuses`, page by page (operator tooling: reconciler, migrations). */
  async *all(statuses: TenantStatus[]): AsyncGenerator<TenantAttributes> {
    let key: DynamoKey | undefined;
    do {
      const page = await this.list(100, key, statuses);
      yield* page.items;
      key = page.lastKey;
    } while (key);
  }

  /**
   * Sets fields (and removes `remove`) and adds 1 to the version, when the record is in one of `fromStatuses`
   * and, if given, at `expectedVersion`. Returns the new record, or undefined when the condition failed.
   */
  async update(
    id: string,
    changes: TenantChanges,
    condition: { fromStatuses?: TenantStatus[]; expectedVersion?: number },
    remove: Array<'failureReason' | 'pendingAdmin'> = [],
  ): Promise<TenantAttributes | undefined> {
    let when = new dynamoose.Condition('pk').exists();
    if (condition.fromStatuses?.length) when = when.and().where('status').in(condition.fromStatuses);
    if (condition.expectedVersion !== undefined) when = when.and().where('version').eq(condition.expectedVersion);
    const set: TenantChanges = { ...changes, updatedAt: changes.updatedAt ?? new Date().toISOString() };
    // With its change record, so that every instance drops the cached tenant (status, settings, deletion).
    const refused = await transactControl([
      this.models.tenants.transaction.update(
        ControlKeys.tenant(id),
        { $SET: set, $ADD: { version: 1 }, ...(remove.length ? { $REMOVE: remove } : {}) } as Partial<TenantItem>,
        { condition: when },
      ),
      this.models.changes.transaction.create(this.feed.record({ kind: 'tenant', tenantId: id })),
    ]);
    if (refused) return undefined;
    // A transaction returns no attributes: the record as written, read back (operator writes only).
    return this.get(id);
  }
}

const attributes = (item: TenantItem): TenantAttributes => item.toJSON() as TenantAttributes;
