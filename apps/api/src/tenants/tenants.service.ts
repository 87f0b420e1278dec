import { type BeforeApplicationShutdown, Injectable, Logger } from '@nestjs/common';
import { PasswordHasher } from '@lib/auth';
import { AppConfig, SecretBox } from '@lib/config';
import {
  CursorCodec,
  type CursorBinding,
  type TenantAttributes,
  type TenantSettings,
  tenantTableName,
  ControlKeys,
  RETRY,
  retryOptimistic,
  TENANT_STATUSES,
} from '@lib/dynamo';
import { DomainError, ULID_PATTERN } from '@lib/observability';
import { RequestContext, TenantRegistry, tenantLlmKeyAad, toResolvedTenant } from '@lib/tenancy';
import { ulid } from 'ulid';
import type { CreateTenantDto, ListTenantsQuery, TenantDto, TenantPageDto, UpdateTenantDto } from './dto/tenant.dto';
import type { UsageDto } from '../usage/dto/usage.dto';
import { UsageService } from '../usage/usage.service';
import { LATEST_SCHEMA_VERSION, TenantProvisioner } from './tenant-provisioner';
import { TenantsRepository } from './tenants.repository';

/** Slugs that would read as the platform's own names. */
export const RESERVED_SLUGS = new Set([
  'admin',
  'administrator',
  'api',
  'app',
  'auth',
  'billing',
  'docs',
  'health',
  'help',
  'internal',
  'login',
  'metrics',
  'operator',
  'operators',
  'platform',
  'root',
  'security',
  'static',
  'status',
  'support',
  'system',
  'www',
]);

/** How long a create waits for provisioning before answering 202. */
const PROVISION_WAIT_MS = 15_000;

export interface CreateResult {
  tenant: TenantDto;
  finished: boolean;
}

/** What `resealSecrets` did to one tenant. */
export interface ResealProgress {
  tenantId: string;
  slug: string;
  /** `resealed`: sealed again under the current key; `current`: nothing to do; `failed`: see `error`. */
  outcome: 'resealed' | 'current' | 'failed';
  /** The key id the secret was under before (`plaintext` for a key stored before sealing). */
  from?: string;
  error?: string;
}

export function toTenantDto(t: TenantAttributes): TenantDto {
  const llm = t.settings?.llm;
  return {
    id: t.id,
    slug: t.slug,
    name: t.name,
    status: t.status,
    tableName: t.tableName,
    schemaVersion: t.schemaVersion,
    settings: {
      monthlyTokenQuota: t.settings?.monthlyTokenQuota ?? null,
      retentionDays: t.settings?.retentionDays ?? null,
      ...(typeof t.settings?.userMonthlyTokenQuota === 'number'
        ? { userMonthlyTokenQuota: t.settings.userMonthlyTokenQuota }
        : {}),
      ...(llm
        ? { llm: { provider: llm.provider, baseUrl: llm.baseUrl, model: llm.model, apiKeySet: Boolean(llm.apiKey) } }
        : {}),
    },
    ...(t.status === 'failed' && t.failureReason ? { failureReason: t.failureReason } : {}),
    createdAt: t.createdAt,
    updatedAt: t.updatedAt,
  };
}

/** The operator's view of tenants: onboarding, lifecycle, usage. */
@Injectable()
export class TenantsService implements BeforeApplicationShutdown {
  private readonly logger = new Logger(TenantsService.name);
  /** Background work started by requests (provisioning past the wait, deletions), awaited at shutdown. */
  private readonly background = new Set<Promise<unknown>>();

  constructor(
    private readonly repository: TenantsRepository,
    private readonly provisioner: TenantProvisioner,
    private readonly registry: TenantRegistry,
    private readonly hasher: PasswordHasher,
    private readonly cursors: CursorCodec,
    private readonly usageService: UsageService,
    private readonly config: AppConfig,
  ) {}

  /** The boot reconciler (API only): finishes tenants left provisioning or deleting by a crash. */
  reconcileInBackground(): void {
    void this.track(
      this.provisioner
        .reconcile(false)
        .then((r) => {
          const total = r.provisioned.length + r.deleted.length + r.failed.length;
          if (total > 0) {
            this.logger.log(
              `reconciled: ${r.provisioned.length} provisioned, ${r.deleted.length} deleted, ${r.failed.length} not finished`,
            );
          }
        })
        .catch((e: unknown) => this.logger.warn(`boot reconciler did not finish: ${(e as Error).message}`)),
    );
  }

  /** Background provisioning and deletions finish before the process stops. */
  async beforeApplicationShutdown(): Promise<void> {
    await this.whenIdle();
  }

  /** Resolves when the background work started so far has finished (the CLI waits for it). */
  async whenIdle(): Promise<void> {
    await Promise.allSettled([...this.background]);
  }

  async create(dto: CreateTenantDto): Promise<CreateResult> {
    if (RESERVED_SLUGS.has(dto.slug)) {
      throw new DomainError('invalid_input', 'the request is not valid', {
        errors: [{ field: 'slug', message: 'slug is reserved' }],
      });
    }
    const id = ulid();
    const now = new Date().toISOString();
    const record: TenantAttributes = {
      ...ControlKeys.tenant(id),
      ...ControlKeys.tenantIndex(now, id),
      id,
      slug: dto.slug,
      name: dto.name.trim(),
      status: 'provisioning',
      tableName: tenantTableName(this.config.dynamo.tablePrefix, id),
      schemaVersion: LATEST_SCHEMA_VERSION,
      settings: { monthlyTokenQuota: null, retentionDays: null },
      pendingAdmin: {
        id: ulid(),
        email: dto.admin.email.trim().toLowerCase(),
        name: dto.admin.name.trim(),
        passwordHash: await this.hasher.hash(dto.admin.password),
      },
      createdAt: now,
      updatedAt: now,
      version: 1,
    };
    if (!(await this.repository.createWithSlug(record))) throw new DomainError('conflict', 'slug already taken');
    this.provisioner.stepDone('record');
    const run = this.track(this.provisioner.provision(id));
    const timeout = new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), PROVISION_WAIT_MS).unref());
    const outcome = await Promise.race([run, timeout]);
    if (outcome === 'timeout' || !outcome) return { tenant: toTenantDto(record), finished: false };
    return { tenant: toTenantDto(outcome), finished: outcome.status === 'active' };
  }

  async list(query: ListTenantsQuery, operatorId: string): Promise<TenantPageDto> {
    const binding: CursorBinding = { tenant: 'platform', list: `tenants:${query.status ?? 'all'}`, caller: operatorId };
    const statuses = query.status ? [query.status] : undefined;
    return this.cursors.page(
      query.cursor,
      binding,
      (start) => this.repository.list(query.limit, start, statuses),
      (tenants) => tenants.map(toTenantDto),
    );
  }

  async get(id: string): Promise<TenantAttributes> {
    const tenant = await this.repository.get(id);
    if (!tenant) throw new DomainError('not_found', 'tenant not found');
    return tenant;
  }

  /** A tenant by id or slug (CLI). */
  async findByRef(ref: string): Promise<TenantAttributes> {
    const tenant = ULID_PATTERN.test(ref) ? await this.repository.get(ref) : await this.repository.getBySlug(ref);
    if (!tenant) throw new DomainError('not_found', `no tenant ${ref}`);
    return tenant;
  }

  /** Name, status (active ⇄ suspended) and settings, under optimistic locking (If-Match or the read version). */
  async update(id: string, dto: UpdateTenantDto, ifMatch: number | undefined): Promise<TenantAttributes> {
    return retryOptimistic(
      async () => {
        const current = await this.get(id);
        if (ifMatch !== undefined && current.version !== ifMatch)
          throw new DomainError('precondition_failed', 'the tenant was changed since you read it');
        if (dto.status && !['active', 'suspended'].includes(current.status)) {
          throw new DomainError('conflict', `a ${current.status} tenant cannot be made ${dto.status}`);
        }
        const changes: Partial<TenantAttributes> = {};
        if (dto.name !== undefined) changes.name = dto.name.trim();
        if (dto.status !== undefined) changes.status = dto.status;
        if (dto.settings !== undefined) {
          changes.settings = mergeSettings(current.settings, dto.settings, (plain) =>
            this.config.secrets.seal(plain, tenantLlmKeyAad(id)),
          );
        }
        const updated = await this.repository.update(id, changes, {
          expectedVersion: current.version,
          fromStatuses: dto.status ? ['active', 'suspended'] : undefined,
        });
        if (updated) {
          this.registry.remember(updated);
          if (dto.status && dto.status !== current.status)
            this.logger.log(`tenant ${updated.slug} (${id}) ${dto.status}`);
          return updated;
        }
        if (ifMatch !== undefined)
          throw new DomainError('precondition_failed', 'the tenant was changed since you read it');
        return RETRY;
      },
      { conflict: 'the tenant is being changed concurrently; retry' },
    );
  }

  /**
   * Seals every tenant's stored secrets again under the current key of SECRETS_KEYS (and seals plaintext keys
   * stored before sealing), each by a conditional update at the version read, with its change record so that
   * every instance drops the old settings. Resumable: a tenant already under the current key is left alone. A
   * secret that does not open (its key already removed) is reported as failed; the others go on.
   */
  async resealSecrets(progress: (p: ResealProgress) => void): Promise<ResealProgress[]> {
    const results: ResealProgress[] = [];
    for await (const listed of this.repository.all([...TENANT_STATUSES])) {
      const result = await this.resealOne(listed.id).catch(
        (error: unknown): ResealProgress => ({
          tenantId: listed.id,
          slug: listed.slug,
          outcome: 'failed',
          error: (error as Error).message,
        }),
      );
      results.push(result);
      progress(result);
    }
    return results;
  }

  private async resealOne(id: string): Promise<ResealProgress> {
    const secrets = this.config.secrets;
    return retryOptimistic<ResealProgress>(
      async () => {
        const current = await this.get(id);
        const base = { tenantId: id, slug: current.slug };
        const llm = current.settings?.llm;
        if (llm?.apiKey === undefined || !secrets.needsReseal(llm.apiKey)) return { ...base, outcome: 'current' };
        const aad = tenantLlmKeyAad(id);
        const apiKey = secrets.seal(secrets.open(llm.apiKey, aad), aad);
        const settings = { ...current.settings, llm: { ...llm, apiKey } };
        const updated = await this.repository.update(id, { settings }, { expectedVersion: current.version });
        if (!updated) return RETRY;
        this.registry.remember(updated);
        return { ...base, outcome: 'resealed', from: SecretBox.kidOf(llm.apiKey) ?? 'plaintext' };
      },
      { conflict: `tenant ${id} kept changing while its secrets were sealed again; run the command again` },
    );
  }

  /** Marks the tenant deleting and drops its table in the background; deleting twice is not an error. */
  async delete(id: string): Promise<TenantAttributes> {
    const current = await this.get(id);
    if (current.status === 'deleted' || current.status === 'deleting') return current;
    const deleting =
      (await this.repository.update(
        id,
        { status: 'deleting' },
        { fromStatuses: ['provisioning', 'active', 'suspended', 'failed'] },
      )) ?? (await this.get(id));
    this.registry.remember(deleting);
    if (deleting.status === 'deleting') {
      void this.track(
        this.provisioner
          .drop(id)
          .catch((e: unknown) => this.logger.error(`tenant ${id} deletion not finished: ${(e as Error).message}`)),
      );
    }
    return deleting;
  }

  /** Token counters and DynamoDB consumed capacity of a month, from the tenant's own table. */
  async usage(id: string, month: string): Promise<UsageDto> {
    const tenant = await this.get(id);
    if (!['active', 'suspended'].includes(tenant.status)) {
      return {
        month,
        inputTokens: 0,
        outputTokens: 0,
        requests: 0,
        byUser: [],
        dynamodb: { readCapacityUnits: 0, writeCapacityUnits: 0 },
      };
    }
    // The usage repository reads the table of the tenant in context: enter the tenant asked about.
    return RequestContext.runWithTenant(toResolvedTenant(tenant), () => this.usageService.month(month));
  }

  private track<T>(promise: Promise<T>): Promise<T> {
    this.background.add(promise);
    void promise.finally(() => this.background.delete(promise)).catch(() => undefined);
    return promise;
  }
}

/** The settings after an update; a new LLM API key is stored sealed (`seal`), never in plaintext. */
function mergeSettings(
  current: TenantSettings | undefined,
  input: NonNullable<UpdateTenantDto['settings']>,
  seal: (plain: string) => string,
): TenantSettings {
  const merged: TenantSettings = { monthlyTokenQuota: null, retentionDays: null, ...(current ?? {}) };
  if (input.monthlyTokenQuota !== undefined) merged.monthlyTokenQuota = input.monthlyTokenQuota;
  if (input.retentionDays !== undefined) merged.retentionDays = input.retentionDays;
  if (input.userMonthlyTokenQuota !== undefined) merged.userMonthlyTokenQuota = input.userMonthlyTokenQuota;
  if (input.llm !== undefined) {
    const { apiKey, ...rest } = input.llm;
    merged.llm = { ...current?.llm, ...rest, ...(apiKey !== undefined ? { apiKey: seal(apiKey) } : {}) };
  }
  return merged;
}
