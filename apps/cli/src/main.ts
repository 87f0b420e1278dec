import 'reflect-metadata';
import type { INestApplicationContext } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { type AppConfig, ConfigError, loadConfig } from '@lib/config';
import { TableManager } from '@lib/dynamo';
import { DynamoDbLocal, DynamoDbLocalError, readEmbeddedEndpoint } from '@lib/dynamo/local';
import { OperatorsService } from '@app/operators/operators.service';
import { Command, CommanderError } from 'commander';
import { join } from 'node:path';
import { CliModule } from './cli.module';

/** Runs `fn` with the application context: the same services as the API, on the same DynamoDB. */
async function withContext<T>(fn: (ctx: INestApplicationContext, config: AppConfig) => Promise<T>): Promise<T> {
  const config = loadConfig();
  let local: DynamoDbLocal | undefined;
  if (config.dynamo.embedded) {
    // Use the running API's embedded database when there is one; otherwise start it on the same data.
    const running = await readEmbeddedEndpoint(config.dataDir);
    if (running) config.dynamo.endpoint = running;
    else {
      local = await DynamoDbLocal.start({ dbPath: join(config.dataDir, 'dynamodb') });
      config.dynamo.endpoint = local.endpoint;
    }
  }
  const ctx = await NestFactory.createApplicationContext(CliModule.forRoot(config), {
    logger: ['error', 'warn'],
    abortOnError: false,
  });
  try {
    return await fn(ctx, config);
  } finally {
    await ctx.close();
    await local?.stop();
  }
}

export function buildProgram(): Command {
  const program = new Command('chat-platform')
    .description('Operator CLI of the chat platform (same services as the API). Reads the same environment variables.')
    .showHelpAfterError();

  program
    .command('operator:create')
    .description(
      'Create a platform operator (the password is read from OPERATOR_PASSWORD, never from the command line)',
    )
    .requiredOption('--email <email>', 'operator email')
    .option('--name <name>', 'display name', 'Operator')
    .action(async (opts: { email: string; name: string }) => {
      const password = process.env.OPERATOR_PASSWORD;
      if (!password || password.length < 12 || password.length > 256) {
        throw new CliError("set OPERATOR_PASSWORD (12 to 256 characters) to the new operator's password");
      }
      await withContext(async (ctx) => {
        const created = await ctx.get(OperatorsService).create(opts.email, opts.name, password);
        if (!created) throw new CliError(`an operator with email ${opts.email} already exists`);
        process.stdout.write(`created operator ${created.id} <${created.email}>\n`);
      });
    });

  program
    .command('tables:list')
    .description('List the tables of this deployment (the TABLE_PREFIX tables) with their status')
    .option('--json', 'print JSON')
    .action(async (opts: { json?: boolean }) => {
      await withContext(async (ctx, config) => {
        const tables = ctx.get(TableManager);
        const names = await tables.listTables(config.dynamo.tablePrefix);
        const rows = [];
        for (const name of names) {
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

  return program;
}

class CliError extends Error {}

async function main(argv: string[]): Promise<number> {
  const program = buildProgram().exitOverride();
  try {
    await program.parseAsync(argv);
    return 0;
  } catch (error) {
    if (error instanceof CommanderError) return error.exitCode;
    if (error instanceof CliError || error instanceof ConfigError || error instanceof DynamoDbLocalError) {
      process.stderr.write(`error: ${error.message}\n`);
      return 1;
    }
    process.stderr.write(`error: ${(error as Error).message}\n`);
    return 2;
  }
}

if (require.main === module) {
  void main(process.argv).then((code) => process.exit(code));
}
