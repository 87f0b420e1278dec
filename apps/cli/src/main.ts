import 'reflect-metadata';
import '@app/node-support';
import { ConfigError } from '@lib/config';
import { TableManager } from '@lib/dynamo';
import { DynamoDbLocalError } from '@lib/dynamo/local';
import { DomainError } from '@lib/observability';
import { Command, CommanderError } from 'commander';
import { CliError, withContext } from './cli-context';
import { registerOperatorCommands } from './operator-commands';
import { registerSecretsCommands } from './secrets-commands';
import { registerTenantCommands } from './tenant-commands';
import { registerTransferCommands } from './transfer-commands';

export function buildProgram(): Command {
  const program = new Command('chat-platform')
    .description('Operator CLI of the chat platform: the same services as the API, configured by the same environment.')
    .showHelpAfterError();

  registerOperatorCommands(program, withContext);

  program
    .command('tables:list')
    .description('List the tables of this deployment (the TABLE_PREFIX tables) with their status')
    .option('--json', 'print JSON')
    .action(async (opts: { json?: boolean }) => {
      await withContext(async (ctx, config) => {
        const tables = ctx.get(TableManager, { strict: false });
        const rows = [];
        for (const name of await tables.listTables(config.dynamo.tablePrefix)) {
          const d = await tables.describe(name);
          rows.push({
            name,
            status: d?.TableStatus ?? 'GONE',
            items: d?.ItemCount ?? 0,
            bytes: d?.TableSizeBytes ?? 0,
          });
        }
        if (opts.json) process.stdout.write(`${JSON.stringify(rows, null, 2)}\n`);
        else {
          process.stdout.write(`${rows.length} table(s) with prefix "${config.dynamo.tablePrefix}"\n`);
          for (const r of rows) process.stdout.write(`${r.name}\t${r.status}\t${r.items} items\t${r.bytes} bytes\n`);
        }
      });
    });

  registerTenantCommands(program, withContext);
  registerTransferCommands(program, withContext);
  registerSecretsCommands(program, withContext);
  return program;
}

export async function run(argv: string[]): Promise<number> {
  const program = buildProgram().exitOverride();
  try {
    await program.parseAsync(argv);
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (error) {
    if (error instanceof CommanderError) return error.exitCode;
    const known = [CliError, ConfigError, DynamoDbLocalError, DomainError].some((k) => error instanceof k);
    process.stderr.write(`error: ${(error as Error).message}\n`);
    return known ? 1 : 2;
  }
}

if (require.main === module) {
  void run(process.argv).then((code) => process.exit(code));
}
