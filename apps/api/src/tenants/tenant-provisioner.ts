import { Injectable, Logger } from '@nestjs/common';
import { FaultHooks } from '@lib/config';
import { isDynamoUnavailable, TableManager, type TenantAttributes, tenantTableSpec } from '@lib/dynamo';
import { TenantRegistry } from '@lib/tenancy';
import { LATEST_SCHEMA_VERSION, TENANT_MIGRATIONS } from './tenant-migrations';
import { TenantSeeder } from './tenant-seeder';
import { TenantsRepository } from './tenants.repository';

export type ProvisionStep = 'record' | 'table' | 'roles' | 'admin';

export interface ReconcileReport {
  provisioned: string[];
  deleted: string[];
  failed: Array<{ id: string; reason: string }>;
}

export interface MigrationProgress {
  done: number;
  total: number;
  tenantId: string;
  slug: string;
  from: number;
  to: number;
  ok: boolean;
  error?: string;
}

/** A message that is safe to store as the failure reason (no stack; the error's name and message). */
function reasonOf(error: unknown): string {
  const e = error as { name?: string; message?: string };
  return `${e.name ?? 'Error'}: ${e.message ?? String(error)}`.slice(0, 500);
}

/**
 * Brings tenants to the state their record asks for: provisioning → table, roles, admin, active;
 * deleting → table gone, deleted; older schema → migrated. Every step is idempotent, so any run, killed
 * at any point, is finished by the next (the boot reconciler, `tenants:reconcile`, or a retry).
 */
@Injectable()
export class TenantProvisioner {
  private readonly logger = new Logger(TenantProvisioner.name);

  constructor(
    private readonly repository: TenantsRepository,
    private readonly tables: TableManager,
    private readonly seeder: TenantSeeder,
    private readonly registry: TenantRegistry,
    private readonly faults: FaultHooks,
  ) {}

  /** Each step is a crash point: the run may end right after it, to be finished by the next. */
  stepDone(step: ProvisionStep): void {
    this.faults.reached(`after-tenant-${step}`);
  }

  /**
   * Finishes provisioning of a tenant in status provisioning (or failed, when `retryFailed`). Returns the
   * record as it ends. A DynamoDB outage leaves the tenant in provisioning (to be finished later); any other
   * error marks it failed with the reason.
   */
  async provision(tenantId: string, retryFailed = false): Promise<TenantAttributes | undefined> {
    let tenant = await this.repository.get(tenantId);
    if (!tenant) return undefined;
    if (tenant.status === 'failed' && retryFailed) {
      tenant =
        (await this.repository.update(tenantId, { status: 'provisioning' }, { fromStatuses: ['failed'] }, [
          'failureReason',
        ])) ?? tenant;
    }
    if (tenant.status !== 'provisioning') return tenant;
    try {
      await this.tables.ensureTable(tenantTableSpec(tenant.tableName, tenant.id));
      this.stepDone('table');
      // An import's tenant gets its roles and users from the export, and the import marks it active: seeding here
      // would add built-in roles beside the imported ones (docs/export-import.md).
      if (tenant.importOf) return tenant;
      const roles = await this.seeder.seedRoles(tenant);
      this.stepDone('roles');
      if (tenant.pendingAdmin) {
        await this.seeder.createAdmin(tenant, tenant.pendingAdmin, roles.get('owner') as string);
      }
      this.stepDone('admin');
      const active = await this.repository.update(tenantId, { status: 'active' }, { fromStatuses: ['provisioning'] }, [
        'pendingAdmin',
        'failureReason',
      ]);
      const final = active ?? (await this.repository.get(tenantId));
      if (final) this.registry.remember(final);
      if (active) this.logger.log(`tenant ${tenant.slug} (${tenantId}) provisioned`);
      return final;
    } catch (error) {
      if (isDynamoUnavailable(error)) throw error;
      const reason = reasonOf(error);
      this.logger.error(`tenant ${tenant.slug} (${tenantId}) provisioning failed: ${reason}`);
      const failed = await this.repository.update(
        tenantId,
        { status: 'failed', failureReason: reason },
        { fromStatuses: ['provisioning'] },
      );
      return failed ?? (await this.repository.get(tenantId));
    }
  }

  /** Finishes the deletion of a tenant in status deleting: drops its table, then marks it deleted. */
  async drop(tenantId: string): Promise<TenantAttributes | undefined> {
    const tenant = await this.repository.get(tenantId);
    if (!tenant || tenant.status !== 'deleting') return tenant;
    await this.tables.dropTable(tenant.tableName);
    const deleted = await this.repository.update(tenantId, { status: 'deleted' }, { fromStatuses: ['deleting'] }, [
      'pendingAdmin',
    ]);
    const final = deleted ?? (await this.repository.get(tenantId));
    if (final) this.registry.remember(final);
    this.logger.log(`tenant ${tenant.slug} (${tenantId}) deleted`);
    return final;
  }

  /** Finishes every half-done tenant; with `retryFailed`, failed provisionings are retried too. */
  async reconcile(retryFailed: boolean, concurrency = 4): Promise<ReconcileReport> {
    const report: ReconcileReport = { provisioned: [], deleted: [], failed: [] };
    const statuses: TenantAttributes['status'][] = retryFailed
      ? ['provisioning', 'deleting', 'failed']
      : ['provisioning', 'deleting'];
    const pending: TenantAttributes[] = [];
    for await (const tenant of this.repository.all(statuses)) pending.push(tenant);
    await runPool(pending, concurrency, async (tenant) => {
      try {
        const result =
          tenant.status === 'deleting' ? await this.drop(tenant.id) : await this.provision(tenant.id, retryFailed);
        if (result?.status === 'active') report.provisioned.push(tenant.id);
        else if (result?.status === 'deleted') report.deleted.push(tenant.id);
        else
          report.failed.push({
            id: tenant.id,
            reason:
              result?.failureReason ??
              (result?.importOf
                ? 'an unfinished import: run tenants:import again with the same file and slug'
                : `still ${result?.status ?? 'missing'}`),
          });
      } catch (error) {
        report.failed.push({ id: tenant.id, reason: reasonOf(error) });
      }
    });
    return report;
  }

  /**
   * Applies pending schema migrations to every active or suspended tenant, `concurrency` tenants at a time.
   * After each step the record's schemaVersion moves forward (conditionally), so a crashed run resumes where
   * it stopped.
   */
  async migrate(concurrency: number, onProgress: (p: MigrationProgress) => void): Promise<MigrationProgress[]> {
    const behind: TenantAttributes[] = [];
    for await (const tenant of this.repository.all(['active', 'suspended'])) {
      if (tenant.schemaVersion < LATEST_SCHEMA_VERSION) behind.push(tenant);
    }
    const results: MigrationProgress[] = [];
    let done = 0;
    await runPool(behind, concurrency, async (tenant) => {
      const from = tenant.schemaVersion;
      let version = from;
      let error: string | undefined;
      try {
        for (const migration of TENANT_MIGRATIONS.filter((m) => m.version > from)) {
          await migration.apply({ tenantId: tenant.id, tableName: tenant.tableName, tables: this.tables });
          const updated = await this.repository.update(tenant.id, { schemaVersion: migration.version }, {});
          if (!updated) throw new Error('tenant record vanished');
          this.registry.remember(updated);
          version = migration.version;
        }
      } catch (e) {
        error = reasonOf(e);
      }
      const progress = {
        done: ++done,
        total: behind.length,
        tenantId: tenant.id,
        slug: tenant.slug,
        from,
        to: version,
        ok: !error,
        error,
      };
      results.push(progress);
      onProgress(progress);
    });
    return results;
  }
}

/** Runs `work` over `items` with at most `concurrency` at a time. */
export async function runPool<T>(items: T[], concurrency: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await work(items[next++]);
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(concurrency, items.length)) }, worker));
}

export { LATEST_SCHEMA_VERSION };
