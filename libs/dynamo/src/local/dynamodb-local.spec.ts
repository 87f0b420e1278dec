import { CreateTableCommand, DynamoDBClient, ListTablesCommand } from '@aws-sdk/client-dynamodb';
import { chmodSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect, createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DynamoDbLocal, DynamoDbLocalError, findFreePort, readEmbeddedEndpoint } from './dynamodb-local';

function clientFor(local: DynamoDbLocal): DynamoDBClient {
  return new DynamoDBClient({
    endpoint: local.endpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    maxAttempts: 1,
  });
}

function portIsClosed(port: number): Promise<boolean> {
  return new Promise((done) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      done(false);
    });
    socket.once('error', () => done(true));
  });
}

function processIsGone(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return false;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'ESRCH';
  }
}

async function startError(start: Promise<DynamoDbLocal>): Promise<DynamoDbLocalError> {
  const result = await start.then(
    async (local) => {
      await local.stop();
      throw new Error('DynamoDbLocal.start() should have failed');
    },
    (error: unknown) => error,
  );
  expect(result).toBeInstanceOf(DynamoDbLocalError);
  return result as DynamoDbLocalError;
}

describe('DynamoDbLocal', () => {
  let scratch: string;
  beforeAll(() => {
    scratch = mkdtempSync(join(tmpdir(), 'dynamodb-local-spec-'));
  });
  afterAll(() => rmSync(scratch, { recursive: true, force: true }));

  it('runs in memory on a free port, hangs while paused, recovers on resume, and stops leaving nothing behind', async () => {
    const exitListeners = process.listenerCount('exit');
    const local = await DynamoDbLocal.start({ inMemory: true });
    const client = clientFor(local);
    try {
      expect(local.endpoint).toBe(`http://127.0.0.1:${local.port}`);
      expect(process.listenerCount('exit')).toBe(exitListeners + 1);
      // Telemetry really off (-disableTelemetry alone is ignored): no metadata file in its working directory.
      const installDir = join(__dirname, '../../../../.cache/dynamodb-local/2.9.30');
      expect(existsSync(join(installDir, 'DynamoDBLocal.jar'))).toBe(true);
      expect(existsSync(join(installDir, 'dynamodb-local-metadata.json'))).toBe(false);

      await client.send(
        new CreateTableCommand({
          TableName: 'spec-table',
          BillingMode: 'PAY_PER_REQUEST',
          AttributeDefinitions: [{ AttributeName: 'pk', AttributeType: 'S' }],
          KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }],
        }),
      );
      expect((await client.send(new ListTablesCommand({}))).TableNames).toEqual(['spec-table']);

      local.pause();
      const started = Date.now();
      await expect(client.send(new ListTablesCommand({}), { abortSignal: AbortSignal.timeout(300) })).rejects.toThrow();
      expect(Date.now() - started).toBeLessThan(5_000);

      local.resume();
      expect((await client.send(new ListTablesCommand({}))).TableNames).toEqual(['spec-table']);
    } finally {
      client.destroy();
      await local.stop();
    }

    expect(await portIsClosed(local.port)).toBe(true);
    expect(processIsGone(local.pid)).toBe(true);
    expect(process.listenerCount('exit')).toBe(exitListeners);
    await local.stop(); // idempotent
  });

  it('persists to dbPath, publishes its endpoint, refuses a second JVM on the same files, and stops while paused', async () => {
    const dbPath = join(scratch, 'data', 'dynamodb');
    const local = await DynamoDbLocal.start({ dbPath, port: await findFreePort() });
    try {
      expect(await readEmbeddedEndpoint(join(scratch, 'data'))).toBe(local.endpoint);
      expect(await readEmbeddedEndpoint(dbPath)).toBe(local.endpoint);
      const second = await startError(DynamoDbLocal.start({ dbPath }));
      expect(second.message).toContain(`already running on ${dbPath} at ${local.endpoint}`);

      local.pause();
      const stopping = Date.now();
      await local.stop();
      expect(Date.now() - stopping).toBeLessThan(4_000); // SIGTERM reached it; no SIGKILL after 5 s was needed
    } finally {
      await local.stop();
    }
    expect(processIsGone(local.pid)).toBe(true);
    expect(existsSync(join(dbPath, 'shared-local-instance.db'))).toBe(true);
    expect(await readEmbeddedEndpoint(dbPath)).toBeUndefined();
  });

  it('fails fast when the port is taken (DynamoDB Local itself would hang without a server)', async () => {
    const server: Server = createServer();
    await new Promise<void>((listening) => server.listen(0, listening));
    const address = server.address();
    const port = typeof address === 'object' && address ? address.port : 0;
    try {
      const error = await startError(DynamoDbLocal.start({ port, startTimeoutMs: 20_000 }));
      expect(error.message).toContain(`could not listen on port ${port}`);
      expect(error.message).toContain('BindException');
    } finally {
      server.close();
    }
  });

  it('without Java, fails with one line that says what to do', async () => {
    const error = await startError(DynamoDbLocal.start({ javaBin: join(scratch, 'no-such-java') }));
    expect(error.message).not.toContain('\n');
    expect(error.message).toMatch(
      /^Java 17\+ is required to run the embedded DynamoDB Local .*ENOENT.*DYNAMODB_ENDPOINT/,
    );
  });

  it('with Java older than 17, fails with one line naming the version found', async () => {
    const oldJava = join(scratch, 'java8');
    writeFileSync(oldJava, '#!/bin/sh\necho \'java version "1.8.0_392"\' >&2\n');
    chmodSync(oldJava, 0o755);
    const error = await startError(DynamoDbLocal.start({ javaBin: oldJava }));
    expect(error.message).not.toContain('\n');
    expect(error.message).toContain(`(found Java 8 at "${oldJava}")`);
    expect(error.message).toContain('apt-get install openjdk-17-jre-headless');
  });
});
