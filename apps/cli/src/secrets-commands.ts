import type { Command } from 'commander';
import { TenantsService } from '@app/tenants/tenants.service';
import type { WithContext } from './cli-context';

/** `secrets:*` commands: the keyring of secrets at rest (README "Secrets"). */
export function registerSecretsCommands(program: Command, withContext: WithContext): void {
  program
    .command('secrets:rotate')
    .description(
      'Seal every tenant secret again under the first key of SECRETS_KEYS (plaintext keys stored before sealing too); resumable',
    )
    .action(async () => {
      await withContext(async (ctx, config) => {
        let done = 0;
        const results = await ctx.get(TenantsService, { strict: false }).resealSecrets((p) => {
          done += 1;
          const what =
            p.outcome === 'resealed'
              ? `resealed (${p.from} → ${config.secrets.currentKid})`
              : p.outcome === 'current'
                ? 'up to date'
                : `FAILED: ${p.error}`;
          process.stdout.write(`[${done}] ${p.slug} (${p.tenantId}) ${what}\n`);
        });
        const count = (outcome: string) => results.filter((r) => r.outcome === outcome).length;
        process.stdout.write(
          `secrets:rotate: ${count('resealed')} resealed, ${count('current')} up to date, ${count('failed')} failed (key ${config.secrets.currentKid})\n`,
        );
        if (count('failed') > 0) process.exitCode = 1;
      });
    });
}
