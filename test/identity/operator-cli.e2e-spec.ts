import { run } from '../../apps/cli/src/main';
import { OperatorsService } from '@app/operators/operators.service';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CreateTableCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDbLocal } from '@lib/dynamo/local';
import request from 'supertest';
import { CLI_MAIN, ROOT, runCli } from '../support/cli';
import { OPERATOR_EMAIL, startApp, testEnv, type TestApp } from '../support/harness';
import { loginOperator } from '../support/tokens';

const PASSWORD = 'an-operators-password';

interface Outcome {
  code: number;
  stdout: string;
  /** stderr without the table manager's warnings about what DynamoDB Local does not support. */
  stderr: string;
}

/**
 * operator:list / operator:disable / operator:enable. The CLI runs in this process from its TypeScript source
 * (`run()` of apps/cli/src/main.ts, the built CLI's entry point) so that the commands are tested without a build;
 * the last block runs the built CLI from dist and is skipped until a build contains these commands.
 */
describe('operator CLI', () => {
  let t: TestApp;
  let env: Record<string, string | undefined>;

  beforeAll(async () => {
    t = await startApp();
    env = testEnv({ TABLE_PREFIX: t.config.dynamo.tablePrefix });
  });
  afterAll(() => t?.close());

  /** `chat-platform <args>` with the app's environment; stdout and stderr captured. */
  async function cli(...args: string[]): Promise<Outcome> {
    const saved = { ...process.env };
    Object.assign(process.env, env);
    process.exitCode = undefined;
    let stdout = '';
    let stderr = '';
    const out = jest.spyOn(process.stdout, 'write').mockImplementation((chunk) => {
      stdout += String(chunk);
      return true;
    });
    const err = jest.spyOn(process.stderr, 'write').mockImplementation((chunk) => {
      stderr += String(chunk);
      return true;
    });
    try {
      const code = await run(['node', 'chat-platform', ...args]);
      return { code, stdout, stderr: stderr.replace(/^warn \[Tables\]: .*\n/gm, '') };
    } finally {
      out.mockRestore();
      err.mockRestore();
      process.exitCode = undefined;
      for (const key of Object.keys(process.env)) if (!(key in saved)) delete process.env[key];
      Object.assign(process.env, saved);
    }
  }

  it('operator:list prints one line per operator and a summary; --json the same as data', async () => {
    const second = await t.app.get(OperatorsService).create('listed@operators.test', 'Listed', PASSWORD);
    const text = await cli('operator:list');
    expect(text.code).toBe(0);
    const lines = text.stdout.trim().split('\n');
    expect(lines[0]).toBe('2 operator(s), 2 enabled');
    expect(lines[1]).toMatch(new RegExp(`^[0-9A-Z]{26}  enabled   ${OPERATOR_EMAIL}  Bootstrap operator$`));
    expect(lines[2]).toBe(`${second!.id}  enabled   listed@operators.test  Listed`);

    const json = await cli('operator:list', '--json');
    expect(json.code).toBe(0);
    expect(JSON.parse(json.stdout)).toEqual([
      expect.objectContaining({ email: OPERATOR_EMAIL, disabled: false }),
      {
        id: second!.id,
        email: 'listed@operators.test',
        name: 'Listed',
        disabled: false,
        createdAt: expect.any(String),
      },
    ]);
  });

  it('operator:disable by email: the running API refuses the operator (change feed); operator:enable by id', async () => {
    const op = await t.app.get(OperatorsService).create('cli-target@operators.test', 'Target', PASSWORD);
    const pair = await loginOperator(t.url, 'cli-target@operators.test', PASSWORD);
    const tenants = () => request(t.url).get('/v1/tenants').auth(pair.accessToken, { type: 'bearer' });
    await tenants().expect(200);

    const disabled = await cli('operator:disable', 'CLI-Target@operators.test');
    expect(disabled).toEqual({
      code: 0,
      stdout: `disabled operator ${op!.id} <cli-target@operators.test>\n`,
      stderr: '',
    });
    let status = 200;
    for (let i = 0; i < 100 && status === 200; i++) {
      await new Promise((done) => setTimeout(done, 100));
      status = (await tenants()).status;
    }
    expect(status).toBe(401);
    expect((await cli('operator:list', '--json')).stdout).toContain('"disabled": true');

    const enabled = await cli('operator:enable', op!.id);
    expect(enabled).toEqual({
      code: 0,
      stdout: `enabled operator ${op!.id} <cli-target@operators.test>\n`,
      stderr: '',
    });
    await request(t.url)
      .post('/v1/platform/auth/login')
      .send({ email: 'cli-target@operators.test', password: PASSWORD })
      .expect(200);
  });

  it('unknown operator and the last enabled operator: exit 1 with a clear message, nothing written', async () => {
    const unknown = await cli('operator:disable', 'nobody@operators.test');
    expect(unknown).toEqual({ code: 1, stdout: '', stderr: 'error: no operator nobody@operators.test\n' });
    expect((await cli('operator:enable', 'not-an-id')).code).toBe(1);

    for (const o of await t.app.get(OperatorsService).list()) {
      if (o.email !== OPERATOR_EMAIL) await t.app.get(OperatorsService).disable(o.id);
    }
    const last = await cli('operator:disable', OPERATOR_EMAIL);
    expect(last).toEqual({
      code: 1,
      stdout: '',
      stderr: 'error: the last enabled operator cannot be disabled\n',
    });
    expect((await cli('operator:list')).stdout.split('\n')[0]).toMatch(/^\d+ operator\(s\), 1 enabled$/);
    await request(t.url)
      .get('/v1/tenants')
      .auth((await loginOperator(t.url)).accessToken, { type: 'bearer' })
      .expect(200);
  });

  // The built CLI (npm run build): skipped until the build in dist has these commands.
  const built = existsSync(CLI_MAIN) && readFileSync(CLI_MAIN, 'utf8').includes('operator-commands');
  (built ? it : it.skip)('the built CLI lists, disables and enables operators', async () => {
    const help = await runCli(['--help'], env);
    for (const command of ['operator:list', 'operator:disable', 'operator:enable'])
      expect(help.stdout).toContain(command);
    const op = await t.app.get(OperatorsService).create('built-cli@operators.test', 'Built', PASSWORD);
    const disabled = await runCli(['operator:disable', 'built-cli@operators.test'], env);
    expect(disabled).toMatchObject({ code: 0, stdout: `disabled operator ${op!.id} <built-cli@operators.test>\n` });
    const list = await runCli(['operator:list', '--json'], env);
    expect(JSON.parse(list.stdout)).toContainEqual(expect.objectContaining({ id: op!.id, disabled: true }));
    const enabled = await runCli(['operator:enable', op!.id], env);
    expect(enabled).toMatchObject({ code: 0, stdout: `enabled operator ${op!.id} <built-cli@operators.test>\n` });
    const unknown = await runCli(['operator:disable', 'nobody@operators.test'], env);
    // The built CLI also logs its start (SDK and table notices) on stderr: the error is its last line.
    expect(unknown.code).toBe(1);
    expect(unknown.stderr.trimEnd().split('\n').at(-1)).toBe('error: no operator nobody@operators.test');
  });

  // The bug: run from another folder, the built CLI took a relative DATA_DIR from its working directory, created an
  // empty data directory there, started a DynamoDB Local of its own on it and listed that database's tables.
  (existsSync(CLI_MAIN) ? it : it.skip)(
    "the built CLI run from another folder uses the repository's data directory and its running database",
    async () => {
      const dataDir = `.data/test-cli-cwd-${process.pid}`;
      const elsewhere = mkdtempSync(join(tmpdir(), 'cli-cwd-'));
      // The API's embedded database of that data directory, with a table only it has.
      const local = await DynamoDbLocal.start({ dbPath: join(ROOT, dataDir, 'dynamodb') });
      const prefix = `${t.config.dynamo.tablePrefix}cwd-`;
      try {
        const ddb = new DynamoDBClient({
          endpoint: local.endpoint,
          region: 'us-east-1',
          credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
        });
        await ddb.send(
          new CreateTableCommand({
            TableName: `${prefix}marker`,
            BillingMode: 'PAY_PER_REQUEST',
            AttributeDefinitions: [{ AttributeName: 'pk', AttributeType: 'S' }],
            KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }],
          }),
        );
        ddb.destroy();
        const run = await new Promise<{ code: number | null; stdout: string; stderr: string }>((done) => {
          const child = spawn(process.execPath, [CLI_MAIN, 'tables:list'], {
            cwd: elsewhere,
            // Development without DYNAMODB_ENDPOINT: the embedded database of DATA_DIR (relative, as by default).
            env: Object.fromEntries(
              Object.entries({
                PATH: process.env.PATH ?? '',
                HOME: process.env.HOME ?? '/tmp',
                ...env,
                NODE_ENV: 'development',
                DYNAMODB_ENDPOINT: undefined,
                DATA_DIR: dataDir,
                TABLE_PREFIX: prefix,
              }).filter(([, value]) => value !== undefined),
            ),
            stdio: ['ignore', 'pipe', 'pipe'],
          });
          let stdout = '';
          let stderr = '';
          child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
          child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
          child.on('close', (code) => done({ code, stdout, stderr }));
        });
        expect(run).toMatchObject({ code: 0 });
        expect(run.stdout).toContain(`${prefix}marker`);
        expect(existsSync(join(elsewhere, '.data'))).toBe(false);
      } finally {
        await local.stop();
        rmSync(elsewhere, { recursive: true, force: true });
        rmSync(join(ROOT, dataDir), { recursive: true, force: true });
      }
    },
    120_000,
  );
});
