import type { Command } from 'commander';
import { type OperatorSummary, OperatorsService } from '@app/operators/operators.service';
import { CliError, type WithContext } from './cli-context';

function line(o: OperatorSummary): string {
  return `${o.id}  ${(o.disabled ? 'disabled' : 'enabled').padEnd(8)}  ${o.email}  ${o.name}`;
}

/** `operator:*` commands: the same service as the operator API. */
export function registerOperatorCommands(program: Command, withContext: WithContext): void {
  program
    .command('operator:create')
    .description(
      'Create a platform operator (the password is read from OPERATOR_PASSWORD, never from the command line)',
    )
    .requiredOption('--email <email>', 'operator email')
    .option('--name <name>', 'display name', 'Operator')
    .action(async (opts: { email: string; name: string }) => {
      const password = process.env.OPERATOR_PASSWORD;
      if (!password) throw new CliError("OPERATOR_PASSWORD is not set: set it to the new operator's password");
      if (password.length < 12 || password.length > 256) {
        throw new CliError('OPERATOR_PASSWORD must be 12 to 256 characters');
      }
      if (!/^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(opts.email)) throw new CliError(`not an email address: ${opts.email}`);
      await withContext(async (ctx) => {
        const created = await ctx.get(OperatorsService, { strict: false }).create(opts.email, opts.name, password);
        if (!created) throw new CliError(`an operator with email ${opts.email} already exists`);
        process.stdout.write(`created operator ${created.id} <${created.email}>\n`);
      });
    });

  program
    .command('operator:list')
    .description('List platform operators, oldest first, with their state')
    .option('--json', 'print JSON')
    .action(async (opts: { json?: boolean }) => {
      await withContext(async (ctx) => {
        const operators = await ctx.get(OperatorsService, { strict: false }).list();
        if (opts.json) {
          process.stdout.write(`${JSON.stringify(operators, null, 2)}\n`);
          return;
        }
        const enabled = operators.filter((o) => !o.disabled).length;
        process.stdout.write(`${operators.length} operator(s), ${enabled} enabled\n`);
        for (const o of operators) process.stdout.write(`${line(o)}\n`);
      });
    });

  program
    .command('operator:disable <operator>')
    .description(
      "Disable an operator (email or id): its tokens are refused from the next request and its sessions can't be " +
        'refreshed, also after an enable. The last enabled operator cannot be disabled.',
    )
    .action(async (ref: string) => {
      await withContext(async (ctx) => {
        const operator = await ctx.get(OperatorsService, { strict: false }).disable(ref);
        process.stdout.write(`disabled operator ${operator.id} <${operator.email}>\n`);
      });
    });

  program
    .command('operator:enable <operator>')
    .description('Enable an operator (email or id): it can log in again; tokens from before its disable stay refused')
    .action(async (ref: string) => {
      await withContext(async (ctx) => {
        const operator = await ctx.get(OperatorsService, { strict: false }).enable(ref);
        process.stdout.write(`enabled operator ${operator.id} <${operator.email}>\n`);
      });
    });
}
