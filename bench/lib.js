'use strict';
/**
 * Shared helpers of the benchmarks in bench/ (plain CommonJS, no build step):
 *  - child processes: every child is tracked and stopped on success, failure, a child's unexpected exit,
 *    Ctrl-C/SIGTERM, and the run's time budget (`run(main, budgetMs)` wires all of it);
 *  - DynamoDB Local and the built API as children (`startLocal`, `startApi`), only 127.0.0.1;
 *  - autocannon windows with sub-millisecond latencies from every response (`cannon`);
 *  - statistics and table formatting, /proc readers (CPU, RSS), Prometheus scrapes of the API's DynamoDB call
 *    counters (and of the change feed's own share of them), and an access-token minter that matches the API's
 *    HS256 tokens.
 * Convention: stdout carries the results (what bench/run-all.js records), stderr the progress.
 */
const { spawn, fork, execFileSync } = require('node:child_process');
const { createHmac, createSecretKey, randomBytes } = require('node:crypto');
const { existsSync, readdirSync, readFileSync } = require('node:fs');
const { join, resolve } = require('node:path');
const { createServer } = require('node:net');
const autocannon = require('autocannon');

const ROOT = join(__dirname, '..');
/**
 * The built API: `dist/apps/api` by default. BENCH_DIST points at a copy instead (bench/run-all.js snapshots the
 * build there, so that a colleague's rebuild during a long run cannot swap the code under a benchmark); the copy
 * must stay inside the repository so that node_modules resolves.
 */
const DIST = process.env.BENCH_DIST ? resolve(ROOT, process.env.BENCH_DIST) : join(ROOT, 'dist/apps/api');
const API_ENTRY = join(DIST, 'apps/api/src/main.js');
const LOCAL_LAUNCHER = join(DIST, 'libs/dynamo/src/local/dynamodb-local.js');
const HOST = '127.0.0.1';

function intEnv(name, fallback, min, max) {
  const value = process.env[name] === undefined || process.env[name] === '' ? fallback : Number(process.env[name]);
  if (!Number.isInteger(value) || value < min || value > max)
    throw new Error(`${name} must be an integer ${min}..${max}`);
  return value;
}

/** Progress goes to stderr; results (stdout) stay clean for bench/run-all.js. */
const progress = (...args) => process.stderr.write(`${args.join(' ')}\n`);

// ---- child processes: every one is tracked and stopped on every way out ----
const children = new Map(); // name -> { child, tail: string[] }
let local; // DynamoDB Local (its launcher also SIGKILLs the JVM on process exit)
let stopping = false;
let deadline;

function track(name, child) {
  const entry = { child, tail: [] };
  const keep = (chunk) => {
    entry.tail.push(...String(chunk).trimEnd().split('\n'));
    entry.tail.splice(0, Math.max(0, entry.tail.length - 30));
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  child.once('exit', (code, signal) => {
    if (!stopping && !entry.expectedExit)
      abort(new Error(`${name} exited unexpectedly (${signal ?? `code ${code}`}):\n  ${entry.tail.join('\n  ')}`));
  });
  children.set(name, entry);
  return child;
}

function stopChild(child) {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((done) => {
    const force = setTimeout(() => child.kill('SIGKILL'), 5000);
    child.once('exit', () => (clearTimeout(force), done()));
    child.kill('SIGTERM');
  });
}

/** Stops one tracked child now (its exit is expected). */
async function stopTracked(name) {
  const entry = children.get(name);
  if (!entry) return;
  entry.expectedExit = true;
  await stopChild(entry.child);
  children.delete(name);
}

async function cleanup() {
  stopping = true;
  await Promise.all([...children.values()].map(({ child }) => stopChild(child)));
  await local?.stop();
}
process.on('exit', () => children.forEach(({ child }) => child.exitCode === null && child.kill('SIGKILL')));

let aborted = false;
function abort(error) {
  if (aborted) return;
  aborted = true;
  // Our own errors say what failed; a stack only for the unexpected ones (TypeError and the like).
  console.error(`\nbench failed: ${error.name === 'Error' ? error.message : error.stack}`);
  cleanup().finally(() => process.exit(1));
}
for (const signal of ['SIGINT', 'SIGTERM']) process.once(signal, () => abort(new Error(`${signal} received`)));

/** Runs `main` under a hard time budget; stops every child at the end, whatever happened. */
function run(main, budgetMs) {
  deadline = setTimeout(() => abort(new Error(`run exceeded its ${Math.round(budgetMs / 1000)} s budget`)), budgetMs);
  main()
    .then(async () => {
      clearTimeout(deadline);
      await cleanup();
    })
    .catch(abort);
}

// ---- helpers ----
const sleep = (ms) => new Promise((wake) => setTimeout(wake, ms));
function withTimeout(promise, ms, what) {
  let timer;
  const timeout = new Promise((_, reject) => (timer = setTimeout(() => reject(new Error(`${what}: timed out`)), ms)));
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
async function waitUntil(what, ms, check) {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await check().catch(() => false)) return;
    await sleep(200);
  }
  throw new Error(`${what}: not ready within ${ms} ms`);
}
const median = (xs) => {
  const s = xs.filter(Number.isFinite).sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const nodeArgs = (who) => (process.env[`BENCH_${who}_NODE_ARGS`] || '').split(' ').filter(Boolean);
const percentile = (sorted, p) =>
  sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))] : NaN;
const fmt = (x, digits = 2) => (Number.isFinite(x) ? x.toFixed(digits) : '-');
const row = (cells, widths) => cells.map((c, i) => String(c)[i ? 'padStart' : 'padEnd'](widths[i])).join('  ');
/** "median [v1 v2 ...]" of per-cycle values. */
const spread = (xs, digits = 2) => `${fmt(median(xs), digits)}  [${xs.map((x) => fmt(x, digits)).join(' ')}]`;
function findFreePort() {
  return new Promise((resolve, reject) => {
    const server = createServer().once('error', reject);
    server.listen(0, HOST, () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}
const CLK_TCK = Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100;
function cpuSeconds(pid) {
  // Fields after "(comm)": state is field 3, utime 14 and stime 15 (1-based, see proc(5)).
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / CLK_TCK;
}
/** Resident set size of a process in MiB (VmRSS of /proc/<pid>/status). */
function rssMiB(pid) {
  const match = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return match ? Number(match[1]) / 1024 : NaN;
}
/**
 * Per-thread scheduler times of a process, in seconds, from /proc/<pid>/task/<tid>/schedstat (time on a CPU,
 * time waiting on a run queue): the main thread (tid = pid, the event loop) apart from all the others (libuv
 * threadpool, V8 and GC helpers). Run-queue wait of the main thread is time the event loop was ready to run
 * but had no CPU.
 */
function threadTimes(pid) {
  const out = { mainCpu: 0, mainWait: 0, otherCpu: 0, otherWait: 0 };
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    let fields;
    try {
      fields = readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ');
    } catch {
      continue; // the thread ended meanwhile
    }
    const [cpu, wait] = [Number(fields[0]) / 1e9, Number(fields[1]) / 1e9];
    const who = Number(tid) === pid ? 'main' : 'other';
    out[`${who}Cpu`] += cpu;
    out[`${who}Wait`] += wait;
  }
  return out;
}
const loadAverage = () => readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');

/**
 * One autocannon window. Latencies come from every response with status `okStatus` (autocannon's `response`
 * event, sub-millisecond; its own histogram rounds to whole ms). `requests` (autocannon's array, e.g. with a
 * `setupRequest` that rotates tokens) replaces the single method/headers/body request when given.
 */
function cannon({ url, seconds, connections, overallRate, method, headers, body, requests, okStatus = 200 }) {
  let instance;
  const run = new Promise((resolve, reject) => {
    const ok = [];
    let responses = 0;
    const opts = { url, connections, duration: seconds, timeout: 5 };
    if (method) opts.method = method;
    if (headers) opts.headers = headers;
    if (body !== undefined) opts.body = body;
    if (requests) opts.requests = requests;
    if (overallRate) opts.overallRate = overallRate;
    const statuses = {};
    instance = autocannon(opts, (error, result) => {
      if (error) return reject(error);
      ok.sort((a, b) => a - b);
      resolve({
        rps: ok.length / result.duration,
        p50: percentile(ok, 0.5),
        p99: percentile(ok, 0.99),
        responses,
        ok: ok.length,
        seconds: result.duration,
        errors: result.errors + result.timeouts + (responses - ok.length),
        statuses,
      });
    });
    instance.on('response', (_client, status, _bytes, ms) => {
      responses++;
      statuses[status] = (statuses[status] || 0) + 1;
      if (status === okStatus) ok.push(ms);
    });
  });
  return withTimeout(run, seconds * 1000 + 20_000, `autocannon ${url}`).catch((error) => {
    instance?.stop();
    throw error;
  });
}

// ---- DynamoDB Local and the API ----
function assertBuilt() {
  for (const file of [API_ENTRY, LOCAL_LAUNCHER]) {
    if (!existsSync(file)) throw new Error(`${file} is missing: run \`npm run build\` first (or check BENCH_DIST)`);
  }
}

/** DynamoDB Local in memory; returns the env a DynamoDB client of ours needs. */
async function startLocal() {
  assertBuilt();
  const { DynamoDbLocal } = require(LOCAL_LAUNCHER);
  local = await DynamoDbLocal.start({ inMemory: true, host: HOST });
  const env = { PATH: process.env.PATH, HOME: process.env.HOME, DYNAMODB_ENDPOINT: local.endpoint };
  Object.assign(env, { AWS_ACCESS_KEY_ID: 'local', AWS_SECRET_ACCESS_KEY: 'local' });
  return { local, env };
}

/**
 * Starts the built API (NODE_ENV=production, LOG_LEVEL=warn, a unique TABLE_PREFIX, a random JWT secret, keyring and
 * bootstrap operator) and waits for /health/ready (live answers from the start of the boot). `extraEnv` adds or
 * overrides variables; `preArgs` are node flags (BENCH_API_NODE_ARGS is appended).
 */
async function startApi(baseEnv, { name = 'api', extraEnv = {}, preArgs = [] } = {}) {
  const secret = randomBytes(32).toString('base64url'); // 43 characters
  const operator = { email: 'bench-operator@example.com', password: randomBytes(12).toString('base64url') };
  const prefix = `bench-${Date.now().toString(36)}-${process.pid}-`;
  const metricsToken = randomBytes(16).toString('base64url');
  const port = await findFreePort();
  const env = { ...baseEnv, NODE_ENV: 'production', JWT_SECRET: secret, LOG_LEVEL: 'warn', HOST, PORT: `${port}` };
  Object.assign(env, { BOOTSTRAP_OPERATOR_EMAIL: operator.email, BOOTSTRAP_OPERATOR_PASSWORD: operator.password });
  // A token that outlives long runs (default 15 min); a quick drain when stopped.
  Object.assign(env, { TABLE_PREFIX: prefix, ACCESS_TOKEN_TTL: '2h', SHUTDOWN_GRACE_MS: '1000' });
  Object.assign(env, { SECRETS_KEYS: `bench:${randomBytes(32).toString('base64')}` });
  Object.assign(env, { METRICS_TOKEN: metricsToken }, extraEnv);
  const args = [...preArgs, ...nodeArgs('API'), API_ENTRY];
  const child = track(name, spawn(process.execPath, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], env }));
  const base = `http://${HOST}:${port}`;
  await waitUntil(`${name} /health/ready`, 90_000, async () => (await fetch(`${base}/health/ready`)).ok);
  return { child, pid: child.pid, base, port, secret, operator, prefix, metricsToken, env };
}

/**
 * Full garbage collections (two: the second frees what the first's finalizers released) in a process started
 * with `--inspect=127.0.0.1:<port>`, through the inspector protocol (HeapProfiler.collectGarbage), so that the
 * heap and RSS read next are what the process retains, not where its GC sawtooth happens to be. Runs in a
 * short-lived child with Node's WebSocket client (behind --experimental-websocket on Node 20).
 */
async function collectGarbage(inspectPort) {
  const targets = await (await fetch(`http://${HOST}:${inspectPort}/json/list`)).json();
  const url = targets[0]?.webSocketDebuggerUrl;
  if (!url) throw new Error(`inspector on port ${inspectPort}: no target`);
  const script = `
    const ws = new WebSocket(process.argv[1]);
    const gc = (id) => ws.send(JSON.stringify({ id, method: 'HeapProfiler.collectGarbage' }));
    ws.onopen = () => gc(1);
    ws.onmessage = ({ data }) => {
      const { id, error } = JSON.parse(data);
      if (error) (console.error(error.message), process.exit(1));
      if (id === 1) gc(2);
      if (id === 2) (ws.close(), process.exit(0));
    };
    ws.onerror = (e) => (console.error(String(e.message ?? e)), process.exit(1));`;
  const child = spawn(process.execPath, ['--experimental-websocket', '-e', script, url], { stdio: 'pipe' });
  let stderr = '';
  child.stderr.on('data', (chunk) => (stderr += chunk));
  const code = await withTimeout(new Promise((done) => child.once('exit', done)), 30_000, 'collectGarbage').catch(
    (error) => (child.kill('SIGKILL'), Promise.reject(error)),
  );
  if (code !== 0) throw new Error(`collectGarbage: exit ${code} ${stderr.trim()}`);
}

/** Forks a helper script with IPC and waits for its `{ ready }` message. */
async function forkReady(name, file, env) {
  const child = track(name, fork(file, [], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe', 'ipc'], env }));
  await withTimeout(new Promise((ready) => child.once('message', ready)), 30_000, `${name} start`);
  return child;
}

/** One request/answer exchange over IPC with a forked helper ({ run } → { result } | { error }). */
function ask(child, message, ms, what) {
  return withTimeout(
    new Promise((resolve, reject) => {
      child.once('message', (m) => (m.error ? reject(new Error(`${what}: ${m.error}`)) : resolve(m.result)));
      child.send(message);
    }),
    ms,
    what,
  );
}

/** JSON request against the API; throws with the body unless the status is one of `expect`. */
async function api(base, method, path, { token, body, expect = [200, 201], headers = {} } = {}) {
  const res = await fetch(`${base}${path}`, {
    method,
    headers: {
      ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
      ...(token ? { authorization: `Bearer ${token}` } : {}),
      ...headers,
    },
    body: body !== undefined ? JSON.stringify(body) : undefined,
  });
  const text = await res.text();
  if (!expect.includes(res.status)) throw new Error(`${method} ${path}: HTTP ${res.status} ${text.slice(0, 300)}`);
  return { status: res.status, body: text ? JSON.parse(text) : undefined, headers: res.headers };
}

async function operatorLogin(apiInfo) {
  const { body } = await api(apiInfo.base, 'POST', '/v1/platform/auth/login', { body: apiInfo.operator });
  return body.accessToken;
}

const claimsOf = (token) => JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString('utf8'));

/** The API's /metrics text (Prometheus format), with its METRICS_TOKEN; throws unless 200. */
async function metricsText(apiInfo, timeoutMs = 10_000) {
  const res = await fetch(`${apiInfo.base}/metrics`, {
    headers: { authorization: `Bearer ${apiInfo.metricsToken}` },
    signal: AbortSignal.timeout(timeoutMs),
  });
  if (!res.ok) throw new Error(`/metrics: HTTP ${res.status}`);
  return res.text();
}

/**
 * The API's DynamoDB calls so far, per operation (GetItem, Query, …), from its /metrics histogram
 * dynamodb_request_duration_seconds: `{ op: { count, sum } }` (sum in seconds, retries included).
 */
async function dynamoStats(apiInfo) {
  const stats = {};
  const text = await metricsText(apiInfo);
  for (const m of text.matchAll(/^dynamodb_request_duration_seconds_(count|sum)\{operation="(\w+)"\} ([\d.e+-]+)/gm)) {
    stats[m[2]] ??= { count: 0, sum: 0 };
    stats[m[2]][m[1]] = Number(m[3]);
  }
  return stats;
}
/**
 * From one scrape of the API's /metrics: its DynamoDB calls so far by operation (`byOp`) and in all (`calls`),
 * how many of them were the change feed's own polling (`feed`, change_feed_queries_total: those Queries are in
 * dynamodb_request_duration_seconds too, so what requests cost is `calls - feed`), the change records the feed
 * has applied by kind (`applied`), and the V8 heap used in MiB (`heapMiB`).
 */
async function feedStats(apiInfo) {
  const text = await metricsText(apiInfo);
  const byOp = {};
  for (const m of text.matchAll(/^dynamodb_request_duration_seconds_count\{operation="(\w+)"\} ([\d.e+-]+)/gm))
    byOp[m[1]] = Number(m[2]);
  const applied = {};
  for (const m of text.matchAll(/^change_feed_records_applied_total\{kind="(\w+)"\} ([\d.e+-]+)/gm))
    applied[m[1]] = Number(m[2]);
  const value = (name) => Number(new RegExp(`^${name} ([\\d.e+-]+)`, 'm').exec(text)?.[1] ?? NaN);
  return {
    byOp,
    calls: Object.values(byOp).reduce((a, b) => a + b, 0),
    feed: value('change_feed_queries_total'),
    applied,
    heapMiB: value('nodejs_heap_size_used_bytes') / 2 ** 20,
  };
}
/** Calls per DynamoDB operation so far: `{ op: count }`. */
async function dynamoCalls(apiInfo) {
  return Object.fromEntries(Object.entries(await dynamoStats(apiInfo)).map(([op, s]) => [op, s.count]));
}
const diffCounts = (after, before) =>
  Object.fromEntries(Object.keys(after).map((k) => [k, after[k] - (before[k] || 0)]));

// ---- tokens ----
const CROCKFORD = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
/** A ULID-shaped id (time part + random part); unique enough for session and token ids. */
function ulidLike() {
  let time = Date.now();
  let out = '';
  for (let i = 0; i < 10; i++) {
    out = CROCKFORD[time % 32] + out;
    time = Math.floor(time / 32);
  }
  for (const byte of randomBytes(16)) out += CROCKFORD[byte % 32];
  return out;
}

/**
 * An access token as the API issues it (HS256; header typ `at+jwt`, kid = first 16 chars of
 * base64url(HMAC-SHA256(secret, 'kid')); iss/aud `chat-platform`).
 */
function mintAccessToken(secret, { sub, tid, scope = 'tenant', ttlSeconds = 7200 }) {
  const kid = createHmac('sha256', secret).update('kid').digest('base64url').slice(0, 16);
  const now = Math.floor(Date.now() / 1000);
  const header = { alg: 'HS256', typ: 'at+jwt', kid };
  const payload = { scope, sid: ulidLike(), ...(tid ? { tid } : {}), iat: now, exp: now + ttlSeconds };
  Object.assign(payload, { aud: 'chat-platform', iss: 'chat-platform', sub, jti: ulidLike() });
  const part = (o) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const signingInput = `${part(header)}.${part(payload)}`;
  const key = createSecretKey(Buffer.from(secret, 'utf8'));
  return `${signingInput}.${createHmac('sha256', key).update(signingInput).digest('base64url')}`;
}

/** A keep-alive DocumentClient on DynamoDB Local, configured like the API's. */
function documentClient(endpoint) {
  const { Agent } = require('node:http');
  const { DynamoDB } = require('@aws-sdk/client-dynamodb');
  const { DynamoDBDocumentClient } = require('@aws-sdk/lib-dynamodb');
  const { NodeHttpHandler } = require('@smithy/node-http-handler');
  return DynamoDBDocumentClient.from(
    new DynamoDB({
      region: 'us-east-1',
      endpoint,
      credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
      requestHandler: new NodeHttpHandler({
        httpAgent: new Agent({ keepAlive: true, keepAliveMsecs: 1000, maxSockets: 256 }),
        requestTimeout: 3000,
        throwOnRequestTimeout: true,
      }),
    }),
    { marshallOptions: { removeUndefinedValues: true } },
  );
}

/** Runs `worker(item)` over `items` with at most `concurrency` at once; `onDone(done)` after each. */
async function pool(items, concurrency, worker, onDone = () => {}) {
  const results = new Array(items.length);
  let next = 0;
  let done = 0;
  const lane = async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await worker(items[i], i);
      onDone(++done);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, lane));
  return results;
}

/** nproc, node, java and load average, for the result headers. */
function machine() {
  const { spawnSync } = require('node:child_process');
  const java = spawnSync('java', ['-version'], { encoding: 'utf8' });
  const javaLine = `${java.stderr || ''}${java.stdout || ''}`.split('\n')[0].trim() || 'java: not found';
  const nproc = spawnSync('nproc', { encoding: 'utf8' }).stdout?.trim() || '?';
  return { nproc, node: process.version, java: javaLine, load: loadAverage() };
}

module.exports = {
  ROOT,
  DIST,
  API_ENTRY,
  LOCAL_LAUNCHER,
  HOST,
  CLK_TCK,
  intEnv,
  progress,
  track,
  stopTracked,
  cleanup,
  abort,
  run,
  sleep,
  withTimeout,
  waitUntil,
  median,
  percentile,
  fmt,
  row,
  spread,
  nodeArgs,
  findFreePort,
  cpuSeconds,
  rssMiB,
  threadTimes,
  loadAverage,
  cannon,
  assertBuilt,
  startLocal,
  startApi,
  collectGarbage,
  forkReady,
  ask,
  api,
  operatorLogin,
  claimsOf,
  metricsText,
  dynamoStats,
  feedStats,
  dynamoCalls,
  diffCounts,
  ulidLike,
  mintAccessToken,
  documentClient,
  pool,
  machine,
  spawn,
};
