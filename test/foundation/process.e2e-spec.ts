import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { DynamoDbLocal, findFreePort } from '../../libs/dynamo/src/local';

const ROOT = resolve(__dirname, '../..');
const MAIN = join(ROOT, 'dist/apps/api/apps/api/src/main.js');

interface Running {
  child: ChildProcess;
  output: () => string;
  exit: Promise<number | null>;
}

/** Starts the built API the way `npm start` does, with a clean environment plus `env`. */
function startMain(env: Record<string, string>): Running {
  const child = spawn(process.execPath, [MAIN], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout?.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (output += d.toString()));
  const exit = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  return { child, output: () => output, exit };
}

async function waitReady(url: string, timeoutMs: number): Promise<number> {
  const started = Date.now();
  while (Date.now() - started < timeoutMs) {
    try {
      const res = await fetch(`${url}/health/ready`);
      if (res.status === 200) return Date.now() - started;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`not ready within ${timeoutMs} ms`);
}

function javaProcessesFor(dbPath: string): string {
  const out = spawnSync('pgrep', ['-af', dbPath], { encoding: 'utf8' });
  return out.stdout
    .split('\n')
    .filter((l) => l.includes('DynamoDBLocal'))
    .join('\n');
}

const built = existsSync(MAIN);
const describeBuilt = built ? describe : describe.skip;
if (!built && process.env.CI) throw new Error(`${MAIN} missing: run npm run build first`);

describeBuilt('the API process (npm start)', () => {
  let dataDir: string;
  beforeEach(() => {
    dataDir = mkdtempSync(join(tmpdir(), 'api-main-'));
  });
  afterEach(() => rmSync(dataDir, { recursive: true, force: true }));

  it('starts the embedded DynamoDB, serves /health/ready, and on SIGTERM exits 0 leaving no JVM behind', async () => {
    const port = await findFreePort();
    // Eight logins of one account at once (slow requests to be in flight at SIGTERM): above the default
    // per-account limit, which counts attempts before their password check.
    const app = startMain({
      NODE_ENV: 'development',
      DATA_DIR: dataDir,
      PORT: String(port),
      HOST: '127.0.0.1',
      LOGIN_MAX_FAILURES_PER_ACCOUNT: '20',
    });
    try {
      const took = await waitReady(`http://127.0.0.1:${port}`, 60_000);
      expect(took).toBeLessThan(60_000);
      expect(javaProcessesFor(join(dataDir, 'dynamodb'))).not.toBe('');
      // Dev secrets were generated under DATA_DIR and the operator's password printed once.
      expect(existsSync(join(dataDir, 'dev-secrets.json'))).toBe(true);
      expect(app.output()).toContain('bootstrap operator:');
      // JSON logs carry the request id and the caller; secrets never reach them.
      const secrets = JSON.parse(readFileSync(join(dataDir, 'dev-secrets.json'), 'utf8')) as Record<string, string>;
      const base = `http://127.0.0.1:${port}`;
      const login = await fetch(`${base}/v1/platform/auth/login`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ email: secrets.operatorEmail, password: secrets.operatorPassword }),
      });
      const { accessToken } = (await login.json()) as { accessToken: string };
      const me = await fetch(`${base}/v1/platform/me`, {
        headers: { authorization: `Bearer ${accessToken}`, 'x-request-id': 'proc-trace-1' },
      });
      expect(me.status).toBe(200);
      // Requests in flight when SIGTERM arrives finish; none is cut off.
      const inFlight = Array.from({ length: 8 }, () =>
        fetch(`${base}/v1/platform/auth/login`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ email: secrets.operatorEmail, password: secrets.operatorPassword }),
        }).then((r) => r.status),
      );
      await new Promise((r) => setTimeout(r, 20));
      app.child.kill('SIGTERM');
      const statuses = await Promise.all(inFlight);
      expect(statuses.every((s) => s === 200 || s === 503)).toBe(true);
      expect(statuses).toContain(200);
      expect(await app.exit).toBe(0);
      expect(javaProcessesFor(join(dataDir, 'dynamodb'))).toBe('');
      const lines = app
        .output()
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l) as { req?: { id?: string }; userId?: string; msg?: string });
      const traced = lines.find((l) => l.req?.id === 'proc-trace-1' && l.msg?.includes('/v1/platform/me'));
      expect(traced?.userId).toMatch(/^[0-9A-Z]{26}$/);
      expect(app.output()).not.toContain(accessToken);
      expect(app.output().split(secrets.operatorPassword).length).toBe(2); // printed once at generation, never logged after
      expect(existsSync(join(dataDir, 'dynamodb'))).toBe(true);
    } finally {
      app.child.kill('SIGKILL');
    }
  });

  it('restarts the embedded DynamoDB when it dies, keeping its data, and exits 1 when it keeps dying', async () => {
    const port = await findFreePort();
    const base = `http://127.0.0.1:${port}`;
    const dbPath = join(dataDir, 'dynamodb');
    const app = startMain({ NODE_ENV: 'development', DATA_DIR: dataDir, PORT: String(port), HOST: '127.0.0.1' });
    const jvmPid = () => Number(javaProcessesFor(dbPath).trim().split(/\s+/)[0]) || undefined;
    /** Waits for a JVM other than `previous` and for the API to be ready on it. */
    const restarted = async (previous: number) => {
      const deadline = Date.now() + 60_000;
      while (!(jvmPid() && jvmPid() !== previous) && Date.now() < deadline)
        await new Promise((r) => setTimeout(r, 200));
      await waitReady(base, 60_000);
      return jvmPid() as number;
    };
    try {
      await waitReady(base, 60_000);
      const secrets = JSON.parse(readFileSync(join(dataDir, 'dev-secrets.json'), 'utf8')) as Record<string, string>;
      const first = jvmPid() as number;
      process.kill(first, 'SIGKILL');
      // The API comes back by itself: a new JVM on the same files, the operator created before still there.
      let current = await restarted(first);
      expect(current).not.toBe(first);
      expect(app.output()).toContain('embedded DynamoDB Local exited unexpectedly');
      const login = await fetch(`${base}/v1/platform/auth/login`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ email: secrets.operatorEmail, password: secrets.operatorPassword }),
      });
      expect(login.status).toBe(200);
      // A database that keeps dying is not hidden behind endless 503s: the process exits 1.
      for (let crash = 2; crash <= 4; crash++) {
        process.kill(current, 'SIGKILL');
        if (crash < 4) current = await restarted(current);
      }
      expect(await app.exit).toBe(1);
      expect(app.output()).toMatch(/exited 4 times within a minute/);
      expect(javaProcessesFor(dbPath)).toBe('');
    } finally {
      app.child.kill('SIGKILL');
    }
  });

  it('answers probes while it waits for DynamoDB (live 200, ready 503), then serves on the same port', async () => {
    const port = await findFreePort();
    const dynamoPort = await findFreePort();
    const base = `http://127.0.0.1:${port}`;
    const app = startMain({
      NODE_ENV: 'development',
      DATA_DIR: dataDir,
      PORT: String(port),
      HOST: '127.0.0.1',
      // Nothing listens there yet: the boot retries until DynamoDB Local starts below.
      DYNAMODB_ENDPOINT: `http://127.0.0.1:${dynamoPort}`,
      AWS_ACCESS_KEY_ID: 'local',
      AWS_SECRET_ACCESS_KEY: 'local',
    });
    let local: DynamoDbLocal | undefined;
    try {
      let live: Response | undefined;
      for (let i = 0; i < 120 && live?.status !== 200; i++) {
        live = await fetch(`${base}/health/live`).catch(() => undefined);
        if (live?.status !== 200) await new Promise((r) => setTimeout(r, 250));
      }
      expect(live?.status).toBe(200);
      expect(await live?.json()).toEqual({ status: 'ok' });
      const ready = await fetch(`${base}/health/ready`);
      expect(ready.status).toBe(503);
      expect(await ready.json()).toEqual({ status: 'unavailable', checks: { boot: 'starting' } });
      const route = await fetch(`${base}/v1/platform/me`);
      expect(route.status).toBe(503);
      expect(route.headers.get('retry-after')).toBe('1');
      expect(route.headers.get('content-type')).toBe('application/problem+json');
      expect(await route.json()).toMatchObject({ status: 503, instance: '/v1/platform/me' });

      local = await DynamoDbLocal.start({ inMemory: true, port: dynamoPort });
      await waitReady(base, 90_000);
      const me = await fetch(`${base}/v1/platform/me`);
      expect(me.status).toBe(401); // the application itself now, on the same port
      app.child.kill('SIGTERM');
      expect(await app.exit).toBe(0);
    } finally {
      app.child.kill('SIGKILL');
      await local?.stop();
    }
  }, 150_000);

  it('exits non-zero with one clear line when Java is missing', async () => {
    const app = startMain({ NODE_ENV: 'development', DATA_DIR: dataDir, PORT: '0', JAVA_BIN: '/nonexistent/java' });
    expect(await app.exit).not.toBe(0);
    expect(app.output()).toMatch(/Java 17\+ is required.*DYNAMODB_ENDPOINT/);
  });

  it('exits 1 naming the variable when the configuration is bad', async () => {
    const app = startMain({ NODE_ENV: 'development', DATA_DIR: dataDir, PORT: 'eighty' });
    expect(await app.exit).toBe(1);
    expect(app.output().trim()).toMatch(/^Invalid configuration: PORT: /);
  });

  it('refuses to start in production without secrets', async () => {
    const app = startMain({ NODE_ENV: 'production', DYNAMODB_ENDPOINT: 'http://127.0.0.1:9' });
    expect(await app.exit).toBe(1);
    expect(app.output()).toContain('Invalid configuration: JWT_SECRET: is required in production');
  });
});
