import { Injectable, Logger } from '@nestjs/common';
import { AppConfig, FaultHooks } from '@lib/config';
import { ControlKeys, DynamoClients, type TenantAttributes, type TenantSettings, tenantTableName } from '@lib/dynamo';
import { DomainError } from '@lib/observability';
import {
  type Change,
  ChangeFeed,
  type ExportKind,
  exportKindOf,
  type RawItem,
  TenantRegistry,
  TenantTable,
  tenantLlmKeyAad,
} from '@lib/tenancy';
import { ulid } from 'ulid';
import { SLUG_PATTERN } from '../dto/tenant.dto';
import { LATEST_SCHEMA_VERSION, TenantProvisioner } from '../tenant-provisioner';
import { TenantsRepository } from '../tenants.repository';
import { RESERVED_SLUGS, TenantsService } from '../tenants.service';
import { type ExportHeader, type ExportItem, type ExportTrailer, migrateItem, readExport } from './export-format';

/** BatchWriteItems in flight at once while an import writes. */
const WRITERS = 8;
const BATCH = 25;

export interface ImportProgress {
  written: number;
  total: number;
}

export interface ImportResult {
  tenant: TenantAttributes;
  /** `imported`: a new tenant; `resumed`: an unfinished import of this file finished; `unchanged`: it was already
   * done; `replaced`: an existing tenant's data replaced. */
  outcome: 'imported' | 'resumed' | 'unchanged' | 'replaced';
  items: number;
  counts: Partial<Record<ExportKind, number>>;
  fromSchemaVersion: number;
  /** What the import could not carry (`settings.llm`: its sealed key does not open in this deployment). */
  dropped: string[];
}

/**
 * Creates a tenant from an export, or restores one from it (docs/export-import.md). The file is read twice: once
 * to check it (format, versions, counts, checksum) before anything is written, then to write its items. Puts are
 * unconditional with the items' own keys, so a run killed at any point and started again with the same file ends
 * with the same items: the new tenant's record carries the export's sha256 (`importOf`) and stays provisioning
 * until every item is written.
 */
@Injectable()
export class TenantImportService {
  private readonly logger = new Logger(TenantImportService.name);

  constructor(
    private readonly clients: DynamoClients,
    private readonly repository: TenantsRepository,
    private readonly tenants: TenantsService,
    private readonly provisioner: TenantProvisioner,
    private readonly registry: TenantRegistry,
    private readonly config: AppConfig,
    private readonly faults: FaultHooks,
    private readonly feed: ChangeFeed,
  ) {}

  /** Checks the whole file without writing anything. */
  inspect(file: string): Promise<{ header: ExportHeader; trailer: ExportTrailer }> {
    return readExport(file);
  }

  /** A new tenant `slug` from the export (same items, a new tenant id); a re-run with the same file resumes it. */
  async importAsNew(
    file: string,
    slug: string,
    onProgress?: (p: ImportProgress) => void,
    name?: string,
  ): Promise<ImportResult> {
    const { header, trailer } = await this.inspect(file);
    if (!SLUG_PATTERN.test(slug) || RESERVED_SLUGS.has(slug))
      throw new DomainError(
        'invalid_input',
        `slug ${slug} is not a valid slug (3-40 lowercase letters, digits or inner hyphens, not reserved)`,
      );
    const base = { items: trailer.items, counts: trailer.counts, fromSchemaVersion: header.schemaVersion };
    let tenant = await this.repository.getBySlug(slug);
    let dropped: string[] = [];
    let outcome: ImportResult['outcome'] = 'imported';
    if (tenant) {
      if (tenant.importOf !== trailer.sha256) throw new DomainError('conflict', 'slug already taken');
      if (tenant.status === 'active' || tenant.status === 'suspended')
        return { ...base, tenant, outcome: 'unchanged', dropped };
      if (tenant.status !== 'provisioning' && tenant.status !== 'failed')
        throw new DomainError('conflict', `the tenant of slug ${slug} is ${tenant.status}`);
      outcome = 'resumed';
    } else {
      const id = ulid();
      const now = new Date().toISOString();
      const settings = this.resealed(header, id);
      dropped = settings.dropped;
      const record: TenantAttributes = {
        ...ControlKeys.tenant(id),
        ...ControlKeys.tenantIndex(now, id),
        id,
        slug,
        name: name?.trim() || header.tenant.name,
        status: 'provisioning',
        tableName: tenantTableName(this.config.dynamo.tablePrefix, id),
        schemaVersion: LATEST_SCHEMA_VERSION,
        settings: settings.settings,
        importOf: trailer.sha256,
        createdAt: now,
        updatedAt: now,
        version: 1,
      };
      if (!(await this.repository.createWithSlug(record))) throw new DomainError('conflict', 'slug already taken');
      tenant = record;
    }
    // The table, without the seeding of a new tenant (the provisioner leaves an import's tenant to the import).
    const provisioned = await this.provisioner.provision(tenant.id, true);
    if (provisioned?.status !== 'provisioning')
      throw new DomainError(
        'unavailable',
        `the tenant's table could not be created: ${provisioned?.failureReason ?? provisioned?.status}`,
      );
    await this.writeItems(file, provisioned, header, trailer, onProgress);
    const active = await this.repository.update(
      provisioned.id,
      { status: 'active' },
      { fromStatuses: ['provisioning'] },
    );
    const final = active ?? (await this.tenants.get(provisioned.id));
    this.registry.remember(final);
    this.logger.log(`tenant ${final.slug} (${final.id}) imported from ${header.tenant.slug} (${header.tenant.id})`);
    return { ...base, tenant: final, outcome, dropped };
  }

  /**
   * Replaces the data of an existing tenant with the export's: suspends it, deletes every item of its table
   * (sessions included), writes the export's items, takes the export's name and settings, then gives it back the
   * status it had. A run killed in between leaves the tenant suspended; running it again finishes the restore.
   */
  async replace(file: string, tenantId: string, onProgress?: (p: ImportProgress) => void): Promise<ImportResult> {
    const { header, trailer } = await this.inspect(file);
    const target = await this.tenants.get(tenantId);
    if (target.status !== 'active' && target.status !== 'suspended')
      throw new DomainError('conflict', `a ${target.status} tenant cannot be restored into`);
    if (target.schemaVersion !== LATEST_SCHEMA_VERSION)
      throw new DomainError(
        'conflict',
        `the tenant's table is at schema version ${target.schemaVersion}: run tenants:migrate first`,
      );
    const before = target.status;
    if (before === 'active') await this.tenants.update(target.id, { status: 'suspended' }, undefined);
    // The users and API keys before and after: API instances cache them (and the roles) until the feed names them.
    const principals = new Map<string, Change>();
    const seen = (item: RawItem) => {
      const kind = exportKindOf(String(item.pk?.S), String(item.sk?.S));
      const id = item.id?.S;
      if (id && (kind === 'user' || kind === 'apiKey'))
        principals.set(`${kind}:${id}`, { kind, tenantId: target.id, id });
    };
    const table = new TenantTable(this.clients, target);
    const cleared = await table.clear(seen);
    this.logger.log(`tenant ${target.slug} (${target.id}): ${cleared} items deleted before the restore`);
    await this.writeItems(file, target, header, trailer, onProgress, seen);
    await this.announce(table, [{ kind: 'roles', tenantId: target.id }, ...principals.values()]);
    const settings = this.resealed(header, target.id);
    const current = await this.tenants.get(target.id);
    const updated = await this.repository.update(
      target.id,
      { name: header.tenant.name, settings: settings.settings, importOf: trailer.sha256, status: before },
      { expectedVersion: current.version },
    );
    if (!updated) throw new DomainError('conflict', 'the tenant changed during the restore; run it again');
    this.registry.remember(updated);
    return {
      tenant: updated,
      outcome: 'replaced',
      items: trailer.items,
      counts: trailer.counts,
      fromSchemaVersion: header.schemaVersion,
      dropped: settings.dropped,
    };
  }

  /** The second pass: every item, migrated to the current schema, put in batches; checked again as it is read. */
  private async writeItems(
    file: string,
    tenant: Pick<TenantAttributes, 'id' | 'tableName'>,
    header: ExportHeader,
    trailer: ExportTrailer,
    onProgress?: (p: ImportProgress) => void,
    seen?: (item: ExportItem) => void,
  ): Promise<void> {
    const table = new TenantTable(this.clients, tenant);
    const total = trailer.items;
    const inFlight = new Set<Promise<void>>();
    let written = 0;
    let batch: ExportItem[] = [];
    let halfWay = false;
    const flush = async () => {
      const items = batch;
      batch = [];
      if (items.length === 0) return;
      const write = table.putRaw(items).then(() => {
        written += items.length;
        onProgress?.({ written, total });
        if (!halfWay && written * 2 >= total) {
          halfWay = true;
          this.faults.reached('half-way-tenant-import');
        }
      });
      inFlight.add(write);
      void write.finally(() => inFlight.delete(write)).catch(() => undefined);
      if (inFlight.size >= WRITERS) await Promise.race(inFlight);
    };
    const { trailer: again } = await readExport(file, {
      onItem: async (item) => {
        seen?.(item);
        batch.push(migrateItem(item, header.schemaVersion));
        if (batch.length === BATCH) await flush();
      },
    });
    await flush();
    await Promise.all(inFlight);
    // The file was checked before this pass; a file changed in between is refused here, before the tenant is active.
    if (again.sha256 !== trailer.sha256)
      throw new DomainError('invalid_input', 'the export file changed during the import');
  }

  /**
   * Change records for `changes` (100 a transaction), so that every API instance drops what it cached of a restored
   * tenant's users, API keys and roles: a user the restore removed must not keep getting in with an unexpired token.
   */
  private async announce(table: TenantTable, changes: Change[]): Promise<void> {
    for (let i = 0; i < changes.length; i += 100) {
      await table.transact(changes.slice(i, i + 100).map((change) => ({ foreign: this.feed.entry(change) })));
    }
  }

  /**
   * The export's settings for tenant `id`: the LLM key sealed for the exported tenant is opened with that tenant's
   * associated data and sealed again for `id`. A key this deployment's keyring cannot open (another deployment's
   * export) is not carried, and neither is the rest of `llm`: without its key, a tenant's own provider and base URL
   * would be called with the deployment's key.
   */
  private resealed(header: ExportHeader, id: string): { settings: TenantSettings; dropped: string[] } {
    const exported = header.tenant.settings ?? {};
    const settings: TenantSettings = {
      ...exported,
      monthlyTokenQuota: exported.monthlyTokenQuota ?? null,
      retentionDays: exported.retentionDays ?? null,
    };
    const llm = settings.llm;
    if (llm?.apiKey === undefined) return { settings, dropped: [] };
    try {
      const plain = this.config.secrets.open(llm.apiKey, tenantLlmKeyAad(header.tenant.id));
      return {
        settings: { ...settings, llm: { ...llm, apiKey: this.config.secrets.seal(plain, tenantLlmKeyAad(id)) } },
        dropped: [],
      };
    } catch {
      const { llm: _dropped, ...rest } = settings;
      return { settings: rest, dropped: ['settings.llm'] };
    }
  }
}
