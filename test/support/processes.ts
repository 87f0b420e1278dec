/**
 * Child processes for fault and scale tests: the built API (`node dist/.../main.js`, as `npm start` runs it),
 * started with an explicit environment, waited for on /health/ready, stopped with SIGTERM (SIGKILL fallback).
 * Specs stop their processes in afterAll/afterEach; as a last resort a watchdog process kills whatever is left
 * if the test process itself dies (see watchPid).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { request as httpRequest, type Agent, type IncomingHttpHeaders } from 'node:http';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { findFreePort } from '../../libs/dynamo/src/local';
import { JWT_SECRET, OPERATOR_EMAIL, OPERATOR_PASSWORD } from './harness';

export const ROOT = resolve(__dirname, '../..');
export const API_MAIN = join(ROOT, 'dist/apps/api/apps/api/src/main.js');
/** True when `npm run build` has produced the API (npm test builds before running Jest). */
export const apiBuilt = existsSync(API_MAIN);

const OUTPUT_KEPT_CHARS = 200_000;

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface ApiProcess {
  readonly name: string;
  readonly url: string;
  readonly port: number;
  readonly child: ChildProcess;
  readonly pid: number;
  /** Everything the process wrote to stdout and stderr so far (the last 200 kB). */
  output(): string;
  /** Resolves when the process has exited (and its pipes are closed). */
  readonly exited: Promise<Exit>;
  /** Set once the process has exited. */
  exit(): Exit | undefined;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves with how it exited. Safe to call more than once. */
  stop(graceMs?: number): Promise<Exit>;
  /** SIGKILL; resolves once gone. */
  kill(): Promise<Exit>;
}

const running = new Set<ApiProcess>();

/**
 * A last-resort safety net: a small detached process that SIGKILLs every registered pid once the test process is
 * gone (its stdin pipe from us closes however we end, even on SIGKILL). Needed because `process.on('exit')` never
 * fires inside a Jest test sandbox. Tests still stop their processes in afterAll/afterEach.
 */
const WATCHDOG_SOURCE = `
const pids = new Set();
let buffer = '';
process.stdin.setEncoding('utf8');
process.stdin.on('data', (d) => {
  buffer += d;
  for (let i; (i = buffer.indexOf('\\n')) >= 0; buffer = buffer.slice(i + 1)) {
    const line = buffer.slice(0, i);
    if (line.startsWith('-')) pids.delete(line.slice(1)); else if (line) pids.add(line);
  }
});
process.stdin.on('end', () => {
  for (const pid of pids) { try { process.kill(Number(pid), 'SIGKILL'); } catch {} }
  process.exit(0);
});
`;
let watchdog: ChildProcess | undefined;

/** Registers a child pid with the watchdog (killed if this test process dies without stopping it). */
export function watchPid(pid: number | undefined): void {
  if (!pid) return;
  if (!watchdog || watchdog.exitCode !== null) {
    watchdog = spawn(process.execPath, ['-e', WATCHDOG_SOURCE], {
      stdio: ['pipe', 'ignore', 'ignore'],
      detached: true,
    });
    watchdog.on('error', () => undefined);
    watchdog.stdin?.on('error', () => undefined);
    watchdog.unref();
    (watchdog.stdin as unknown as { unref?: () => void }).unref?.();
  }
  watchdog.stdin?.write(`${pid}\n`);
}

/** The pid exited normally: forget it (so that a recycled pid is never killed). */
export function unwatchPid(pid: number | undefined): void {
  if (pid && watchdog?.exitCode === null) watchdog.stdin?.write(`-${pid}\n`);
}

/** The environment every API child gets (a clean one: nothing leaks in from the test runner's env). */
export function apiEnv(overrides: Record<string, string | undefined> = {}): Record<string, string> {
  const env: Record<string, string | undefined> = {
    PATH: process.env.PATH ?? '',
    HOME: process.env.HOME ?? '/tmp',
    NODE_ENV: 'test',
    LOG_LEVEL: 'warn',
    HOST: '127.0.0.1',
    AWS_REGION: 'us-east-1',
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
    JWT_SECRET,
    BOOTSTRAP_OPERATOR_EMAIL: OPERATOR_EMAIL,
    BOOTSTRAP_OPERATOR_PASSWORD: OPERATOR_PASSWORD,
    // Unused (DYNAMODB_ENDPOINT and every secret are given, so nothing is generated or embedded); never created.
    DATA_DIR: join(tmpdir(), 'chat-platform-test-api-data'),
    ...overrides,
  };
  return Object.fromEntries(Object.entries(env).filter((e): e is [string, string] => e[1] !== undefined));
}

export interface StartApiOptions {
  name?: string;
  /** Default: a free port. */
  port?: number;
  /** How long to wait for /health/ready = 200 (the machine is small and shared: be generous). */
  readyTimeoutMs?: number;
  /** Do not wait for readiness (the caller waits for something else, or expects the start to fail). */
  noWait?: boolean;
}

/** Starts the built API with `env` (see apiEnv) on a free loopback port and waits for /health/ready. */
export async function startApi(env: Record<string, string>, opts: StartApiOptions = {}): Promise<ApiProcess> {
  if (!apiBuilt) throw new Error(`${API_MAIN} is missing: run npm run build first`);
  const port = opts.port ?? (await findFreePort());
  const name = opts.name ?? `api:${port}`;
  const child = spawn(process.execPath, [API_MAIN], {
    cwd: ROOT,
    env: { ...env, PORT: String(port), HOST: env.HOST ?? '127.0.0.1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.on('error', () => undefined); // kill() of a process that is already gone
  watchPid(child.pid);
  let out = '';
  const append = (d: Buffer) => {
    out += d.toString();
    if (out.length > OUTPUT_KEPT_CHARS) out = out.slice(-OUTPUT_KEPT_CHARS);
  };
  child.stdout?.on('data', append);
  child.stderr?.on('data', append);
  let exitInfo: Exit | undefined;
  const exited = new Promise<Exit>((done) =>
    child.once('close', (code, signal) => {
      exitInfo = { code, signal };
      running.delete(api);
      unwatchPid(child.pid);
      done(exitInfo);
    }),
  );
  let stopping: Promise<Exit> | undefined;
  const api: ApiProcess = {
    name,
    url: `http://127.0.0.1:${port}`,
    port,
    child,
    pid: child.pid ?? -1,
    output: () => out,
    exited,
    exit: () => exitInfo,
    stop(graceMs = 15_000) {
      stopping ??= (async () => {
        if (exitInfo) return exitInfo;
        child.kill('SIGTERM');
        const force = setTimeout(() => child.kill('SIGKILL'), graceMs);
        const result = await exited;
        clearTimeout(force);
        return result;
      })();
      return stopping;
    },
    async kill() {
      if (!exitInfo) child.kill('SIGKILL');
      return exited;
    },
  };
  running.add(api);
  if (opts.noWait) return api;
  try {
    await waitReady(api, opts.readyTimeoutMs ?? 90_000);
  } catch (error) {
    await api.kill();
    throw new Error(`${(error as Error).message}\n--- ${name} output ---\n${out.slice(-4000)}`);
  }
  return api;
}

/** Polls /health/ready until 200; fails early when the process exits. */
export async function waitReady(api: ApiProcess, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const exit = api.exit();
    if (exit) throw new Error(`${api.name} exited during startup (${exit.signal ?? `code ${exit.code}`})`);
    const res = await rawRequest(api.url, { path: '/health/ready', timeoutMs: 3000 }).catch(() => undefined);
    if (res?.status === 200) return;
    await sleep(250);
  }
  throw new Error(`${api.name} was not ready within ${timeoutMs} ms`);
}

/** Stops every API process still running (afterAll safety net): SIGTERM, SIGKILL after `graceMs`. */
export async function stopAllApis(graceMs = 10_000): Promise<void> {
  await Promise.all([...running].map((p) => p.stop(graceMs)));
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * After SIGSTOP: resolves once every thread of `pid` is stopped (Linux /proc). kill() returns before a busy
 * multi-threaded process (a JVM) has stopped; on a loaded machine it can still answer a request for tens of ms.
 */
export async function waitUntilStopped(pid: number, timeoutMs = 5000): Promise<void> {
  const allStopped = (): boolean => {
    try {
      return readdirSync(`/proc/${pid}/task`).every((task) => {
        const stat = readFileSync(`/proc/${pid}/task/${task}/stat`, 'utf8');
        const state = stat.charAt(stat.lastIndexOf(')') + 2);
        return state === 'T' || state === 't';
      });
    } catch {
      return false;
    }
  };
  if (!existsSync(`/proc/${pid}/task`)) return sleep(200); // no procfs: give it a moment
  const deadline = Date.now() + timeoutMs;
  while (!allStopped()) {
    if (Date.now() > deadline) throw new Error(`process ${pid} did not stop within ${timeoutMs} ms`);
    await sleep(2);
  }
}

/** Polls `probe` until it returns a truthy value; returns it, or throws after `timeoutMs`. */
export async function waitFor<T>(
  probe: () => Promise<T | undefined | null | false>,
  timeoutMs: number,
  intervalMs = 200,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value) return value;
      last = value;
    } catch (error) {
      last = error;
    }
    if (Date.now() >= deadline) throw new Error(`condition not met within ${timeoutMs} ms (last: ${String(last)})`);
    await sleep(intervalMs);
  }
}

export interface RawResponse {
  status: number;
  headers: IncomingHttpHeaders;
  text: string;
  /** The body parsed as JSON when it is JSON. */
  body: unknown;
}

export interface RawRequestOptions {
  method?: string;
  path: string;
  headers?: Record<string, string>;
  body?: unknown;
  token?: string;
  /** Default: a fresh connection per request (no keep-alive), so that no pooled socket is reused. */
  agent?: Agent | false;
  timeoutMs?: number;
  /** Called with each chunk of the response body as it arrives (SSE). */
  onData?: (chunk: string) => void;
}

/**
 * One HTTP request with node:http, no retries, no contract checks: what a client sees, including transport
 * failures (the promise rejects with the socket error: ECONNRESET, ECONNREFUSED, "socket hang up").
 */
export function rawRequest(baseUrl: string, opts: RawRequestOptions): Promise<RawResponse> {
  return new Promise((resolveRes, reject) => {
    const payload = opts.body === undefined ? undefined : JSON.stringify(opts.body);
    const headers: Record<string, string> = { ...(opts.headers ?? {}) };
    if (payload !== undefined) {
      headers['content-type'] ??= 'application/json';
      headers['content-length'] = String(Buffer.byteLength(payload));
    }
    if (opts.token) headers.authorization = `Bearer ${opts.token}`;
    const req = httpRequest(new URL(opts.path, baseUrl), {
      method: opts.method ?? 'GET',
      headers,
      agent: opts.agent ?? false,
    });
    if (opts.timeoutMs) {
      req.setTimeout(opts.timeoutMs, () =>
        req.destroy(Object.assign(new Error('client timeout'), { code: 'CLIENT_TIMEOUT' })),
      );
    }
    req.once('error', reject);
    req.once('response', (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        text += chunk;
        opts.onData?.(chunk);
      });
      res.once('error', reject);
      res.once('aborted', () => reject(Object.assign(new Error('response aborted'), { code: 'ECONNRESET' })));
      res.once('end', () => {
        let body: unknown = text;
        try {
          body = text ? JSON.parse(text) : undefined;
        } catch {
          // not JSON (SSE, metrics)
        }
        resolveRes({ status: res.statusCode ?? 0, headers: res.headers, text, body });
      });
    });
    req.end(payload);
  });
}

export interface SseEvent {
  event: string;
  /** The event's `id:` (absent when it has none). */
  id?: string;
  data: unknown;
}

/** Splits an SSE body into `{ event, id, data }` blocks. */
export function parseSse(text: string): SseEvent[] {
  return text
    .split('\n\n')
    .filter((block) => block.split('\n').some((line) => line.trim().length > 0 && !line.startsWith(':')))
    .map((block) => {
      const lines = block.split('\n');
      const event = lines.find((l) => l.startsWith('event: '))?.slice('event: '.length) ?? 'message';
      const id = lines.find((l) => l.startsWith('id: '))?.slice('id: '.length);
      const data = lines
        .filter((l) => l.startsWith('data: '))
        .map((l) => l.slice('data: '.length))
        .join('\n');
      let parsed: unknown = data;
      try {
        parsed = JSON.parse(data);
      } catch {
        // keep the raw text
      }
      return { event, ...(id === undefined ? {} : { id }), data: parsed };
    });
}

/** The value of one Prometheus sample (`name{labels}`), summed over series matching every given label. */
export function metricValue(metricsText: string, name: string, labels: Record<string, string> = {}): number {
  let total = 0;
  for (const line of metricsText.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    const wanted = Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`));
    if (!wanted) continue;
    total += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return total;
}
