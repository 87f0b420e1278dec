import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { createServer } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';

/** Keep in step with PACKAGE_VERSION in scripts/fetch-dynamodb-local.js (it names the cache directory). */
const SIMULATOR_VERSION = '2.9.30';
const MIN_JAVA = 17;
/**
 * The JVM's quick-start settings for a development database: the client compiler only and the serial collector.
 * On the 2-core machines this runs on, DynamoDB Local then answers in 1.5-1.8 s instead of 4.4-5.3 s, and a burst
 * of 3 300 writes and queries took 6.1-6.7 s instead of 10.0-10.7 s (the optimising compiler's threads and the
 * parallel collector compete with the tests for the two cores).
 */
const JVM_OPTIONS = ['-XX:TieredStopAtLevel=1', '-XX:+UseSerialGC'];
const START_TIMEOUT_MS = 30_000;
const STOP_GRACE_MS = 5_000;
const POLL_INTERVAL_MS = 100;
const OUTPUT_LINES_KEPT = 20;
const ENDPOINT_FILE = 'endpoint.json';
const JAVA_HELP =
  'install a JRE (Debian/Ubuntu: apt-get install openjdk-17-jre-headless) or set DYNAMODB_ENDPOINT to an existing DynamoDB endpoint.';

export interface DynamoDbLocalOptions {
  /** 0 or undefined: a free port. */
  port?: number;
  /** Keep the data in memory (the default when no dbPath is given). */
  inMemory?: boolean;
  /** Keep the data in this directory (created if missing); one database for all keys and regions. */
  dbPath?: string;
  /** Host of the endpoint URL; DynamoDB Local itself listens on all interfaces. Default 127.0.0.1. */
  host?: string;
  /** Java binary; default `$JAVA_BIN`, else `java` on PATH. */
  javaBin?: string;
  /** Receives DynamoDB Local's output and the launcher's progress, one line at a time. */
  log?: (line: string) => void;
  /** How long to wait for the first answer; default 30 s. */
  startTimeoutMs?: number;
}

/** A failure an operator can fix (no Java, download failed, port taken); the message is meant to be shown as is. */
export class DynamoDbLocalError extends Error {
  override readonly name = 'DynamoDbLocalError';
}

/** A port that is free right now (the kernel picks it; a race with another process is still possible). */
export function findFreePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', reject);
    // No host: the wildcard address, as DynamoDB Local binds it.
    server.listen(0, () => {
      const address = server.address();
      server.close(() =>
        typeof address === 'object' && address ? resolvePort(address.port) : reject(new Error('no port assigned')),
      );
    });
  });
}

/**
 * The endpoint of a live DynamoDB Local that `DynamoDbLocal.start({ dbPath })` started on these files, if any.
 * `dir` is that dbPath, or a data directory whose `dynamodb/` subdirectory is the dbPath (the apps' layout).
 */
export async function readEmbeddedEndpoint(dir: string): Promise<string | undefined> {
  for (const file of [join(dir, ENDPOINT_FILE), join(dir, 'dynamodb', ENDPOINT_FILE)]) {
    const endpoint = await liveEndpointIn(file);
    if (endpoint) return endpoint;
  }
  return undefined;
}

interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** The official DynamoDB Local (a Java program) as a child process, for development and tests. */
export class DynamoDbLocal {
  readonly endpoint: string;
  readonly pid: number;
  private exitInfo: Exit | undefined;
  private readonly exited: Promise<Exit>;
  private readonly output: string[] = [];
  private stopping: Promise<void> | undefined;
  private endpointFile: string | undefined;
  /** No JVM left behind when this process ends normally (stop() removes it). */
  private readonly killOnExit = (): void => {
    this.process.kill('SIGKILL');
    if (this.endpointFile) rmSync(this.endpointFile, { force: true });
  };

  private constructor(
    readonly process: ChildProcess,
    readonly port: number,
    host: string,
    private readonly log: (line: string) => void,
    pid: number,
  ) {
    this.endpoint = `http://${host}:${port}`;
    this.pid = pid;
    globalThis.process.on('exit', this.killOnExit);
    this.collect(this.process.stdout);
    this.collect(this.process.stderr);
    this.exited = new Promise((resolveExit) =>
      this.process.once('close', (code, signal) => {
        this.exitInfo = { code, signal };
        this.release();
        resolveExit(this.exitInfo);
      }),
    );
  }

  static async start(opts: DynamoDbLocalOptions = {}): Promise<DynamoDbLocal> {
    const log = opts.log ?? (() => undefined);
    const javaBin = opts.javaBin || process.env.JAVA_BIN || 'java';
    if (opts.inMemory && opts.dbPath) throw new DynamoDbLocalError('DynamoDbLocal: give inMemory or dbPath, not both');
    const dbPath = opts.dbPath ? resolve(opts.dbPath) : undefined;
    if (dbPath) await assertNotRunningOn(dbPath);
    await assertJava(javaBin);
    const dir = await ensureInstalled(log);
    if (dbPath) mkdirSync(dbPath, { recursive: true });

    const storage = dbPath ? ['-sharedDb', '-dbPath', dbPath] : ['-inMemory', '-sharedDb'];
    const host = opts.host ?? '127.0.0.1';
    const timeoutMs = opts.startTimeoutMs ?? START_TIMEOUT_MS;
    // A free port can be taken before Java binds it: retry with another one when we chose it.
    for (let attempt = 1; ; attempt++) {
      const port = opts.port || (await findFreePort());
      const args = [...JVM_OPTIONS, `-Djava.library.path=${join(dir, 'DynamoDBLocal_lib')}`];
      args.push('-jar', join(dir, 'DynamoDBLocal.jar'));
      args.push('-port', String(port), '-disableTelemetry', ...storage);
      const { child, pid } = await spawnChecked(javaBin, args, dir);
      const local = new DynamoDbLocal(child, port, host, log, pid);
      const started = Date.now();
      try {
        await local.waitUntilReady(timeoutMs);
      } catch (error) {
        await local.stop();
        const portTaken = local.output.some((line) => /BindException|Failed to bind/.test(line));
        if (portTaken && !opts.port && attempt < 3) continue;
        throw error;
      }
      log(`[dynamodb-local] ready at ${local.endpoint} in ${Date.now() - started} ms (pid ${local.pid})`);
      if (dbPath) local.publishEndpoint(dbPath);
      return local;
    }
  }

  /** SIGTERM, then SIGKILL after 5 s; resolves once the process is gone. Safe to call more than once. */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      if (this.exitInfo) return;
      this.process.kill('SIGTERM');
      this.process.kill('SIGCONT'); // a paused JVM acts on SIGTERM only once continued
      const force = setTimeout(() => this.process.kill('SIGKILL'), STOP_GRACE_MS);
      await this.exited;
      clearTimeout(force);
    })();
    return this.stopping;
  }

  /** Calls `handler` once if the process ends without stop() having been called (a crash, an OOM kill, kill -9). */
  onUnexpectedExit(handler: (how: string) => void): void {
    void this.exited.then((exit) => {
      if (!this.stopping) handler(`${exit.signal ?? `exit code ${exit.code}`}; last output:\n${this.lastOutput()}`);
    });
  }

  /** Freezes the JVM (SIGSTOP): connections are accepted by the kernel but nothing answers. */
  pause(): void {
    this.process.kill('SIGSTOP');
  }

  resume(): void {
    this.process.kill('SIGCONT');
  }

  private async waitUntilReady(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (await answersListTables(this.endpoint, 1_000)) return;
      if (this.exitInfo) {
        const how = this.exitInfo.signal ?? `code ${this.exitInfo.code}`;
        throw new DynamoDbLocalError(`DynamoDB Local exited during startup (${how}):\n${this.lastOutput()}`);
      }
      // It does not exit when its port is taken: the JVM stays up without a server.
      if (this.output.some((line) => /BindException|Failed to bind/.test(line))) {
        throw new DynamoDbLocalError(`DynamoDB Local could not listen on port ${this.port}:\n${this.lastOutput()}`);
      }
      if (Date.now() >= deadline) {
        throw new DynamoDbLocalError(
          `DynamoDB Local did not answer on port ${this.port} within ${timeoutMs} ms:\n${this.lastOutput()}`,
        );
      }
      await new Promise((wake) => setTimeout(wake, POLL_INTERVAL_MS));
    }
  }

  private collect(stream: Readable | null): void {
    if (!stream) return;
    createInterface({ input: stream }).on('line', (line) => {
      this.output.push(line);
      if (this.output.length > OUTPUT_LINES_KEPT) this.output.shift();
      this.log(line);
    });
  }

  private lastOutput(): string {
    return this.output.map((line) => `  ${line}`).join('\n') || '  (no output)';
  }

  /** Lets another process (the CLI) find this instance instead of opening the same files a second time. */
  private publishEndpoint(dbPath: string): void {
    const file = join(dbPath, ENDPOINT_FILE);
    writeFileSync(`${file}.tmp`, `${JSON.stringify({ endpoint: this.endpoint, pid: this.pid })}\n`);
    renameSync(`${file}.tmp`, file);
    this.endpointFile = file;
  }

  private release(): void {
    process.off('exit', this.killOnExit);
    if (this.endpointFile) rmSync(this.endpointFile, { force: true });
    this.endpointFile = undefined;
  }
}

async function spawnChecked(
  command: string,
  args: string[],
  cwd: string,
): Promise<{ child: ChildProcess; pid: number }> {
  // DynamoDB Local 1.25.1 ignores -disableTelemetry: only DDB_LOCAL_TELEMETRY=0 stops it from calling AWS at
  // startup and from writing dynamodb-local-metadata.json into its working directory (hence cwd too).
  const env = { ...process.env, DDB_LOCAL_TELEMETRY: '0' };
  const child = spawn(command, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
  await new Promise<void>((spawned, failed) => {
    child.once('spawn', spawned);
    child.once('error', (error) => failed(new DynamoDbLocalError(`cannot run ${command}: ${error.message}`)));
  });
  child.on('error', () => undefined); // a failed kill() of an exited process: nothing to do
  if (child.pid === undefined) throw new DynamoDbLocalError(`cannot run ${command}: no pid`);
  return { child, pid: child.pid };
}

async function assertJava(javaBin: string): Promise<void> {
  const found = await javaVersion(javaBin);
  if (typeof found === 'number' && found >= MIN_JAVA) return;
  const what = typeof found === 'number' ? `found Java ${found} at "${javaBin}"` : `cannot run "${javaBin}": ${found}`;
  throw new DynamoDbLocalError(
    `Java ${MIN_JAVA}+ is required to run the embedded DynamoDB Local (${what}): ${JAVA_HELP}`,
  );
}

/** The major version `java -version` reports, or why it could not be run. */
function javaVersion(javaBin: string): Promise<number | string> {
  return new Promise((done) => {
    // Not spawn's `timeout` option: its timer outlives a spawn that fails (ENOENT) and holds the event loop.
    const child = spawn(javaBin, ['-version'], { stdio: ['ignore', 'pipe', 'pipe'] });
    const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
    let text = '';
    child.stdout.on('data', (chunk: Buffer) => (text += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (text += chunk.toString()));
    child.once('error', (error: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      done(error.code ?? error.message);
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      const match = /version "(\d+)(?:\.(\d+))?/.exec(text);
      if (code !== 0 || !match) return done(signal ?? `exit code ${code}`);
      // "1.8.0_392" is Java 8; "17.0.15" and "21" are what they say.
      done(Number(match[1] === '1' ? match[2] : match[1]));
    });
  });
}

/** The directory with DynamoDBLocal.jar, fetched by scripts/fetch-dynamodb-local.js when not in the cache yet. */
async function ensureInstalled(log: (line: string) => void): Promise<string> {
  const root = repoRoot();
  const dir = join(root, '.cache', 'dynamodb-local', SIMULATOR_VERSION);
  const installed = (): boolean => existsSync(join(dir, '.verified')) && existsSync(join(dir, 'DynamoDBLocal.jar'));
  if (installed()) return dir;

  log('[dynamodb-local] not in the cache yet: running scripts/fetch-dynamodb-local.js');
  const output: string[] = [];
  const child = spawn(process.execPath, [join(root, 'scripts', 'fetch-dynamodb-local.js'), '--strict'], {
    cwd: root,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  for (const stream of [child.stdout, child.stderr]) {
    createInterface({ input: stream }).on('line', (line) => {
      output.push(line);
      log(line);
    });
  }
  const code = await new Promise<number | null>((done) => {
    child.once('error', () => done(null));
    child.once('close', done);
  });
  if (code !== 0 || !installed()) {
    const last = output.filter((line) => line.includes('ERROR')).pop() ?? output.pop() ?? `exit code ${code}`;
    const detail = last.replace(/^\[dynamodb-local\] (ERROR: could not fetch DynamoDB Local: )?/, '');
    throw new DynamoDbLocalError(`could not fetch DynamoDB Local into ${dir}: ${detail}`);
  }
  return dir;
}

/**
 * The repository root (the folder of the chat-platform package.json; `/app` in the image): this file also runs
 * from dist/apps/<app>/libs/dynamo/src/local/ after a build. The API and the CLI resolve a relative DATA_DIR from
 * here, so that both reach the same data (and the same embedded database) from any working directory.
 */
export function repoRoot(): string {
  for (let dir = __dirname; ; dir = dirname(dir)) {
    try {
      const pkg: unknown = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'));
      if (typeof pkg === 'object' && pkg !== null && 'name' in pkg && pkg.name === 'chat-platform') return dir;
    } catch {
      // no package.json here, or not ours: keep walking up
    }
    if (dirname(dir) === dir)
      throw new DynamoDbLocalError(`cannot find the chat-platform repository above ${__dirname}`);
  }
}

/** True when DynamoDB answers a ListTables call (DynamoDB Local wants an Authorization header; it never checks it). */
function answersListTables(endpoint: string, timeoutMs: number): Promise<boolean> {
  return new Promise((done) => {
    const req = request(endpoint, {
      method: 'POST',
      agent: false,
      timeout: timeoutMs,
      headers: {
        'Content-Type': 'application/x-amz-json-1.0',
        'X-Amz-Target': 'DynamoDB_20120810.ListTables',
        Authorization:
          'AWS4-HMAC-SHA256 Credential=local/20200101/us-east-1/dynamodb/aws4_request, SignedHeaders=host, Signature=0',
      },
    });
    req.once('response', (res) => {
      res.resume();
      done(res.statusCode === 200);
    });
    req.once('timeout', () => req.destroy());
    req.once('error', () => done(false));
    req.end('{}');
  });
}

async function liveEndpointIn(file: string): Promise<string | undefined> {
  let endpoint: unknown;
  let pid: unknown;
  try {
    ({ endpoint, pid } = JSON.parse(readFileSync(file, 'utf8')) as { endpoint?: unknown; pid?: unknown });
  } catch {
    return undefined;
  }
  if (typeof endpoint !== 'string' || typeof pid !== 'number' || !isAlive(pid)) return undefined;
  return (await answersListTables(endpoint, 2_000)) ? endpoint : undefined;
}

async function assertNotRunningOn(dbPath: string): Promise<void> {
  const running = await liveEndpointIn(join(dbPath, ENDPOINT_FILE));
  if (running) {
    throw new DynamoDbLocalError(
      `DynamoDB Local is already running on ${dbPath} at ${running}: stop it, or set DYNAMODB_ENDPOINT=${running}`,
    );
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
