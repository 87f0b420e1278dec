import type { Command } from 'commander';
import { TenantExportService } from '@app/tenants/export/tenant-export.service';
import { TenantImportService } from '@app/tenants/export/tenant-import.service';
import { toTenantDto, TenantsService } from '@app/tenants/tenants.service';
import { createInterface } from 'node:readline/promises';
import { CliError, type WithContext } from './cli-context';

/** Progress on stderr at most once a second (stdout keeps the result, clean for --json). */
function progress(label: string): { tick(n: number, total?: number): void; done(n: number): number } {
  const started = Date.now();
  let last = 0;
  const rate = (n: number) => Math.round(n / Math.max(0.001, (Date.now() - started) / 1000));
  return {
    tick(n, total) {
      if (Date.now() - last < 1000) return;
      last = Date.now();
      process.stderr.write(`${label}: ${n}${total ? `/${total}` : ''} items (${rate(n)} items/s)\n`);
    },
    done(n) {
      return rate(n);
    },
  };
}

async function confirm(question: string, expected: string): Promise<boolean> {
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  try {
    return (await rl.question(question)).trim() === expected;
  } finally {
    rl.close();
  }
}

/** `tenants:export` and `tenants:import` (docs/export-import.md). */
export function registerTransferCommands(program: Command, withContext: WithContext): void {
  program
    .command('tenants:export <tenant>')
    .description('Export a tenant (id or slug) to a gzipped NDJSON file (progress on stderr)')
    .requiredOption('--out <file>', 'the file to write')
    .option('--suspend', 'suspend an active tenant for the export (a consistent export), then resume it')
    .option('--allow-skew', 'export an active tenant while it is written to (docs/export-import.md, "Consistency")')
    .option('--json', 'print the result as JSON')
    .action(async (ref: string, opts: { out: string; suspend?: boolean; allowSkew?: boolean; json?: boolean }) => {
      if (opts.suspend && opts.allowSkew) throw new CliError('--suspend and --allow-skew exclude each other');
      await withContext(async (ctx) => {
        const tenants = ctx.get(TenantsService, { strict: false });
        const exports = ctx.get(TenantExportService, { strict: false });
        let tenant = await tenants.findByRef(ref);
        const resume = opts.suspend && tenant.status === 'active';
        if (resume) tenant = await tenants.update(tenant.id, { status: 'suspended' }, undefined);
        try {
          const { consistency } = await exports.exportable(tenant.id, Boolean(opts.allowSkew));
          const meter = progress(`export ${tenant.slug}`);
          const started = Date.now();
          const trailer = await exports.toFile(tenant, consistency, opts.out, (p) => meter.tick(p.items));
          const result = {
            tenantId: tenant.id,
            slug: tenant.slug,
            file: opts.out,
            consistency,
            items: trailer.items,
            counts: trailer.counts,
            sha256: trailer.sha256,
            seconds: (Date.now() - started) / 1000,
            itemsPerSecond: meter.done(trailer.items),
          };
          if (opts.json) process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
          else
            process.stdout.write(
              `exported ${result.items} items of ${result.slug} (${consistency}) to ${result.file} in ${result.seconds}s, sha256 ${result.sha256}\n`,
            );
        } finally {
          if (resume) await tenants.update(tenant.id, { status: 'active' }, undefined);
        }
      });
    });

  program
    .command('tenants:import')
    .description(
      'Create a tenant from an export (--slug), or restore an existing one from it (--replace); the file is checked before anything is written',
    )
    .requiredOption('--file <file>', 'the export file')
    .option('--slug <slug>', 'the new tenant (same items, a new tenant id); re-run with the same file to resume')
    .option('--name <name>', "the new tenant's name (the exported tenant's by default)")
    .option('--replace <tenant>', "replace this tenant's data (id or slug) with the export's")
    .option('--yes', 'confirm --replace without a prompt (required when stdin is not a terminal)')
    .option('--check', 'only check the file (format, versions, counts, checksum)')
    .option('--json', 'print the result as JSON')
    .action(
      async (opts: {
        file: string;
        slug?: string;
        name?: string;
        replace?: string;
        yes?: boolean;
        check?: boolean;
        json?: boolean;
      }) => {
        if (!opts.check && Boolean(opts.slug) === Boolean(opts.replace))
          throw new CliError('give either --slug <new-slug> or --replace <tenant>');
        await withContext(async (ctx) => {
          const imports = ctx.get(TenantImportService, { strict: false });
          const print = (result: object, text: string) =>
            process.stdout.write(opts.json ? `${JSON.stringify(result, null, 2)}\n` : `${text}\n`);
          if (opts.check) {
            const { header, trailer } = await imports.inspect(opts.file);
            print(
              { ok: true, tenant: header.tenant.slug, schemaVersion: header.schemaVersion, ...trailer },
              `ok: ${trailer.items} items of ${header.tenant.slug} (schema v${header.schemaVersion}), sha256 ${trailer.sha256}`,
            );
            return;
          }
          const meter = progress('import');
          const onProgress = (p: { written: number; total: number }) => meter.tick(p.written, p.total);
          let result;
          if (opts.replace) {
            const target = await ctx.get(TenantsService, { strict: false }).findByRef(opts.replace);
            if (!opts.yes) {
              if (!process.stdin.isTTY)
                throw new CliError('add --yes to confirm: this replaces all of the tenant’s data (no terminal to ask)');
              const ok = await confirm(
                `This deletes every item of tenant ${target.slug} (${target.id}) and writes the export's. Type the slug to confirm: `,
                target.slug,
              );
              if (!ok) throw new CliError('not confirmed: nothing was changed');
            }
            result = await imports.replace(opts.file, target.id, onProgress);
          } else {
            result = await imports.importAsNew(opts.file, opts.slug as string, onProgress, opts.name);
          }
          const tenant = toTenantDto(result.tenant);
          print(
            { ...result, tenant },
            `${result.outcome}: ${tenant.id} ${tenant.slug} ${tenant.status}, ${result.items} items` +
              (result.dropped.length ? ` (not carried: ${result.dropped.join(', ')})` : ''),
          );
        });
      },
    );
}
