import type { Command } from 'commander';
import { TenantProvisioner } from '@app/tenants/tenant-provisioner';
import { toTenantDto, TenantsService } from '@app/tenants/tenants.service';
import type { TenantDto } from '@app/tenants/dto/tenant.dto';
import { CreateTenantDto } from '@app/tenants/dto/tenant.dto';
import { plainToInstance } from 'class-transformer';
import { validate } from 'class-validator';
import { CliError, type WithContext } from './cli-context';

function line(t: TenantDto): string {
  return `${t.id}  ${t.slug.padEnd(24)} ${t.status.padEnd(12)} v${t.schemaVersion}  ${t.name}`;
}

/** `tenants:*` commands: the same services as the operator API. */
export function registerTenantCommands(program: Command, withContext: WithContext): void {
  program
    .command('tenants:create')
    .description("Create a tenant and its first admin (the admin's password is read from TENANT_ADMIN_PASSWORD)")
    .requiredOption('--name <name>', 'tenant name')
    .requiredOption('--slug <slug>', 'tenant slug (3-40 lowercase letters, digits, inner hyphens)')
    .requiredOption('--admin-email <email>', "first admin's email")
    .option('--admin-name <name>', "first admin's name", 'Admin')
    .action(async (opts: { name: string; slug: string; adminEmail: string; adminName: string }) => {
      if (!process.env.TENANT_ADMIN_PASSWORD) {
        throw new CliError("TENANT_ADMIN_PASSWORD is not set: set it to the first admin's password");
      }
      const dto = plainToInstance(CreateTenantDto, {
        name: opts.name,
        slug: opts.slug,
        admin: { email: opts.adminEmail, name: opts.adminName, password: process.env.TENANT_ADMIN_PASSWORD ?? '' },
      });
      const errors = await validate(dto, { whitelist: true, forbidNonWhitelisted: true });
      if (errors.length > 0) {
        const messages = errors.flatMap((e) => [
          ...Object.values(e.constraints ?? {}),
          ...(e.children ?? []).flatMap((c) => Object.values(c.constraints ?? {}).map((m) => `admin ${m}`)),
        ]);
        throw new CliError(messages.join('; ').replace('admin password', 'TENANT_ADMIN_PASSWORD'));
      }
      await withContext(async (ctx) => {
        const { tenant, finished } = await ctx.get(TenantsService, { strict: false }).create(dto);
        process.stdout.write(`${finished ? 'created' : 'accepted (still provisioning)'}: ${line(tenant)}\n`);
      });
    });

  program
    .command('tenants:list')
    .description('List tenants, newest first')
    .option('--status <status>', 'only tenants with this status')
    .option('--json', 'print JSON')
    .action(async (opts: { status?: string; json?: boolean }) => {
      await withContext(async (ctx) => {
        const service = ctx.get(TenantsService, { strict: false });
        const all: TenantDto[] = [];
        let cursor: string | undefined;
        do {
          const page = await service.list({ limit: 100, cursor, status: opts.status as TenantDto['status'] }, 'cli');
          all.push(...page.items);
          cursor = page.nextCursor ?? undefined;
        } while (cursor);
        if (opts.json) process.stdout.write(`${JSON.stringify(all, null, 2)}\n`);
        else {
          process.stdout.write(`${all.length} tenant(s)\n`);
          for (const t of all) process.stdout.write(`${line(t)}\n`);
        }
      });
    });

  for (const [name, status] of [
    ['tenants:suspend', 'suspended'],
    ['tenants:resume', 'active'],
  ] as const) {
    program
      .command(`${name} <tenant>`)
      .description(`${status === 'suspended' ? 'Suspend' : 'Resume'} a tenant (id or slug)`)
      .action(async (ref: string) => {
        await withContext(async (ctx) => {
          const service = ctx.get(TenantsService, { strict: false });
          const tenant = await service.findByRef(ref);
          const updated = await service.update(tenant.id, { status }, undefined);
          process.stdout.write(`${line(toTenantDto(updated))}\n`);
        });
      });
  }

  program
    .command('tenants:delete <tenant>')
    .description('Delete a tenant (id or slug): drops its table, keeps the record as deleted and the slug reserved')
    .option('--yes', "confirm (required: this deletes all the tenant's data)")
    .action(async (ref: string, opts: { yes?: boolean }) => {
      if (!opts.yes) throw new CliError("add --yes to confirm: this deletes all of the tenant's data");
      await withContext(async (ctx) => {
        const service = ctx.get(TenantsService, { strict: false });
        const tenant = await service.findByRef(ref);
        await service.delete(tenant.id);
        await service.whenIdle();
        process.stdout.write(`${line(toTenantDto(await service.get(tenant.id)))}\n`);
      });
    });

  program
    .command('tenants:reconcile')
    .description('Finish tenants left provisioning or deleting, and retry failed provisionings')
    .action(async () => {
      await withContext(async (ctx) => {
        const report = await ctx.get(TenantProvisioner, { strict: false }).reconcile(true);
        for (const id of report.provisioned) process.stdout.write(`provisioned ${id}\n`);
        for (const id of report.deleted) process.stdout.write(`deleted ${id}\n`);
        for (const f of report.failed) process.stdout.write(`NOT FINISHED ${f.id}: ${f.reason}\n`);
        process.stdout.write(
          `reconcile: ${report.provisioned.length} provisioned, ${report.deleted.length} deleted, ${report.failed.length} not finished\n`,
        );
        if (report.failed.length > 0) process.exitCode = 1;
      });
    });

  program
    .command('tenants:migrate')
    .description('Apply pending schema migrations to every tenant table (resumable)')
    .option('--concurrency <n>', 'tenants migrated at once', '4')
    .action(async (opts: { concurrency: string }) => {
      const concurrency = Number(opts.concurrency);
      if (!Number.isInteger(concurrency) || concurrency < 1 || concurrency > 64)
        throw new CliError('--concurrency must be 1..64');
      await withContext(async (ctx) => {
        const results = await ctx.get(TenantProvisioner, { strict: false }).migrate(concurrency, (p) => {
          const outcome = p.ok ? 'ok' : `FAILED: ${p.error}`;
          process.stdout.write(`[${p.done}/${p.total}] ${p.slug} (${p.tenantId}) v${p.from} → v${p.to} ${outcome}\n`);
        });
        const failed = results.filter((r) => !r.ok).length;
        process.stdout.write(
          `migrate: ${results.length - failed} migrated, ${failed} failed${results.length === 0 ? ' (all tenants up to date)' : ''}\n`,
        );
        if (failed > 0) process.exitCode = 1;
      });
    });
}
