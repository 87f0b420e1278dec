'use strict';
/**
 * Issue "identity": login throughput, and whether the API's event loop stays responsive while argon2id
 * (m = 19 MiB, t = 2, on the libuv threadpool) verifies passwords.
 *
 *  1. Login storm: `POST /v1/auth/login` with valid credentials, BENCH_CONNECTIONS (32) concurrent connections,
 *     the bodies rotated over BENCH_USERS (50) users of one tenant (successful logins never trip the per-account
 *     throttle; the API runs with LOGIN_MAX_FAILURES_PER_IP=100000 anyway). "idle" and "storm" windows alternate.
 *     In both, a probe in its own process (bench/latency-probe.js) sends `GET /health/live` at BENCH_PROBE_RATE
 *     (20) req/s, open loop: its latency is the event-loop delay as a client sees it. Better, the API runs with
 *     `--require bench/eventloop-probe.js` (perf_hooks.monitorEventLoopDelay, resolution 10 ms): SIGUSR2 before
 *     and after each window makes it write and reset the histogram (BENCH_ELD_FILE). Also the API's CPU
 *     (/proc/<pid>/stat, the threadpool included) per login.
 *  2. `GET /v1/me` (tenant token: tenant, user and roles from caches) against the foundation's
 *     `GET /v1/platform/me` (operator token: one consistent GetItem on the control table), interleaved windows at 32
 *     connections; the summary is the median of the per-cycle ratios.
 *
 * Run: `npm run bench:login` (after `npm run build`). Env: BENCH_CYCLES (4), BENCH_WINDOW_S (10),
 * BENCH_CONNECTIONS (32), BENCH_USERS (50), BENCH_PROBE_RATE (20), BENCH_WARMUP_S (5), BENCH_ME_CYCLES (6),
 * BENCH_ME_WINDOW_S (6), BENCH_API_NODE_ARGS, BENCH_API_UV_THREADPOOL_SIZE (side experiments: the API's libuv pool size;
 * unset = 4, the default). Only 127.0.0.1; every child is stopped on success, failure, Ctrl-C.
 */
const { existsSync, readFileSync, rmSync } = require('node:fs');
const { join } = require('node:path');
const { tmpdir } = require('node:os');
const {
  intEnv,
  progress,
  run,
  sleep,
  median,
  fmt,
  row,
  spread,
  cpuSeconds,
  threadTimes,
  loadAverage,
  cannon,
  startLocal,
  startApi,
  forkReady,
  ask,
  api,
  operatorLogin,
  pool,
} = require('./lib');

const CYCLES = intEnv('BENCH_CYCLES', 4, 1, 50);
const WINDOW_S = intEnv('BENCH_WINDOW_S', 10, 2, 120);
const CONNECTIONS = intEnv('BENCH_CONNECTIONS', 32, 1, 1024);
const USERS = intEnv('BENCH_USERS', 50, 1, 1000);
const PROBE_RATE = intEnv('BENCH_PROBE_RATE', 20, 1, 1000);
const WARMUP_S = intEnv('BENCH_WARMUP_S', 5, 0, 120);
const ME_CYCLES = intEnv('BENCH_ME_CYCLES', 6, 0, 50);
const ME_WINDOW_S = intEnv('BENCH_ME_WINDOW_S', 6, 1, 120);
const BUDGET_MS =
  (240 + USERS * 2 + 2 * WARMUP_S + 2 * CYCLES * (WINDOW_S + 5) + 2 * (ME_CYCLES + 1) * (ME_WINDOW_S + 3)) * 2000;
const PASSWORD = 'another-good-password';
const ELD_FILE = join(tmpdir(), `bench-eld-${process.pid}.json`);
const RESOLUTION_MS = 10;

/** Makes the API write its event-loop-delay histogram since the last call (and reset it). */
async function eldSnapshot(pid, previousSeq) {
  process.kill(pid, 'SIGUSR2');
  for (let i = 0; i < 250; i++) {
    if (existsSync(ELD_FILE)) {
      const snapshot = JSON.parse(readFileSync(ELD_FILE, 'utf8'));
      if (snapshot.seq > previousSeq) return snapshot;
    }
    await sleep(20);
  }
  throw new Error('the API did not write its event-loop delay (is bench/eventloop-probe.js preloaded?)');
}

async function setup() {
  const { local, env } = await startLocal();
  const apiInfo = await startApi(env, {
    preArgs: ['--require', join(__dirname, 'eventloop-probe.js')],
    extraEnv: {
      BENCH_ELD_FILE: ELD_FILE,
      LOGIN_MAX_FAILURES_PER_IP: '100000',
      LOGIN_MAX_FAILURES_PER_ACCOUNT: '1000',
      // Side experiments only (unset: libuv's default of 4 threads, as in production).
      ...(process.env.BENCH_API_UV_THREADPOOL_SIZE
        ? { UV_THREADPOOL_SIZE: process.env.BENCH_API_UV_THREADPOOL_SIZE }
        : {}),
    },
  });
  progress(`DynamoDB Local ${local.endpoint}, API ${apiInfo.base} (pid ${apiInfo.pid}), prefix ${apiInfo.prefix}`);
  const operatorToken = await operatorLogin(apiInfo);
  const slug = `bl-${Date.now().toString(36)}`;
  const admin = { email: `admin@${slug}.test`, password: 'a-very-good-password' };
  await api(apiInfo.base, 'POST', '/v1/tenants', {
    token: operatorToken,
    body: { name: 'Bench login', slug, admin: { ...admin, name: 'Admin' } },
    expect: [201],
  });
  const { body: tokens } = await api(apiInfo.base, 'POST', '/v1/auth/login', { body: { tenant: slug, ...admin } });
  const adminToken = tokens.accessToken;
  const { body: roles } = await api(apiInfo.base, 'GET', '/v1/roles', { token: adminToken });
  const member = roles.items.find((r) => r.name === 'member');
  progress(`creating ${USERS} users (argon2 hash each, 4 at a time) ...`);
  const emails = Array.from({ length: USERS }, (_, i) => `user${i}@${slug}.test`);
  await pool(emails, 4, (email) =>
    api(apiInfo.base, 'POST', '/v1/users', {
      token: adminToken,
      body: { email, name: 'User', password: PASSWORD, roleIds: [member.id] },
      expect: [201],
    }),
  );
  await api(apiInfo.base, 'POST', '/v1/auth/login', { body: { tenant: slug, email: emails[0], password: PASSWORD } });
  const bodies = emails.map((email) => JSON.stringify({ tenant: slug, email, password: PASSWORD }));
  const probe = await forkReady('probe', join(__dirname, 'latency-probe.js'), { PATH: process.env.PATH });
  return { apiInfo, operatorToken, adminToken, bodies, probe };
}

function loginStorm(apiInfo, bodies, seconds) {
  let next = 0;
  const requests = [
    {
      method: 'POST',
      path: '/v1/auth/login',
      headers: { 'content-type': 'application/json' },
      setupRequest: (req) => {
        req.body = bodies[next++ % bodies.length];
        return req;
      },
    },
  ];
  return cannon({ url: apiInfo.base, seconds, connections: CONNECTIONS, requests });
}

/** One window: the probe always, the storm or nothing beside it; the API's event-loop delay and CPU. */
async function window(ctx, kind, seconds, state) {
  const { apiInfo, probe, bodies } = ctx;
  state.seq = (await eldSnapshot(apiInfo.pid, state.seq)).seq; // resets the histogram
  const cpu0 = cpuSeconds(apiInfo.pid);
  const threads0 = threadTimes(apiInfo.pid);
  const t0 = performance.now();
  const probing = ask(
    probe,
    { run: { url: `${apiInfo.base}/health/live`, rate: PROBE_RATE, seconds } },
    seconds * 1000 + 30_000,
    'probe',
  );
  const storm = kind === 'storm' ? loginStorm(apiInfo, bodies, seconds) : sleep(seconds * 1000);
  const [p, s] = await Promise.all([probing, storm]);
  const eld = await eldSnapshot(apiInfo.pid, state.seq);
  state.seq = eld.seq;
  const elapsed = (performance.now() - t0) / 1000;
  const cpu = cpuSeconds(apiInfo.pid) - cpu0;
  const threads = threadTimes(apiInfo.pid);
  const perS = (k) => ((threads[k] - threads0[k]) / elapsed) * 1000; // ms per second
  return {
    probe: p,
    storm: s,
    eld,
    cpuCores: cpu / elapsed,
    cpuPerLoginMs: s ? (cpu / s.responses) * 1000 : NaN,
    mainCpu: perS('mainCpu'),
    mainWait: perS('mainWait'),
    otherCpu: perS('otherCpu'),
  };
}

async function logins(ctx) {
  console.log(
    `\nnode ${process.version}, login storm: POST /v1/auth/login, ${CONNECTIONS} connections, ${USERS} users, ` +
      `${CYCLES} cycles x ${WINDOW_S} s per window (idle, storm), probe GET /health/live at ${PROBE_RATE} req/s, ` +
      `event-loop delay histogram resolution ${RESOLUTION_MS} ms, API UV_THREADPOOL_SIZE ` +
      `${process.env.BENCH_API_UV_THREADPOOL_SIZE || '4 (default)'}; load average ${loadAverage()}`,
  );
  const state = { seq: 0 };
  if (WARMUP_S > 0) await window(ctx, 'storm', WARMUP_S, state); // JIT, sockets, DynamoDB Local; not counted
  const widths = [13, 8, 7, 7, 6, 9, 9, 7, 7, 7, 5, 8, 8, 8, 8];
  const header = ['cycle window', 'logins/s', 'p50 ms', 'p99 ms', 'errors'];
  header.push('probe p50', 'probe p99', 'ELD p50', 'ELD p99', 'ELD max', 'cores', 'ms/login');
  header.push('main CPU', 'main wait', 'pool CPU');
  console.log(`\n${row(header, widths)}`);
  const cycles = [];
  for (let c = 0; c < CYCLES; c++) {
    const results = {};
    for (const kind of c % 2 ? ['storm', 'idle'] : ['idle', 'storm']) {
      const r = (results[kind] = await window(ctx, kind, WINDOW_S, state));
      const s = r.storm;
      const cells = [`${c + 1}     ${kind}`, s ? fmt(s.rps, 1) : '-', s ? fmt(s.p50, 1) : '-', s ? fmt(s.p99, 1) : '-'];
      cells.push(s ? s.errors : '-', fmt(r.probe.p50), fmt(r.probe.p99), fmt(r.eld.p50), fmt(r.eld.p99));
      cells.push(fmt(r.eld.max), fmt(r.cpuCores), s ? fmt(r.cpuPerLoginMs, 1) : '-');
      cells.push(fmt(r.mainCpu, 0), fmt(r.mainWait, 0), fmt(r.otherCpu, 0));
      console.log(row(cells, widths));
      if (r.probe.errors > 0) console.log(`      probe errors: ${r.probe.errors} of ${r.probe.sent}`);
    }
    cycles.push(results);
  }
  const m = (kind, f) => median(cycles.map((r) => f(r[kind])));
  console.log(`\nmedians over ${CYCLES} cycles`);
  console.log(
    `  logins/s ${fmt(
      m('storm', (r) => r.storm.rps),
      1,
    )}, login p50 ${fmt(
      m('storm', (r) => r.storm.p50),
      1,
    )} ms, ` +
      `p99 ${fmt(
        m('storm', (r) => r.storm.p99),
        1,
      )} ms, API CPU ${fmt(
        m('storm', (r) => r.cpuPerLoginMs),
        1,
      )} ms per login ` +
      `(${fmt(m('storm', (r) => r.cpuCores))} cores busy; idle ${fmt(m('idle', (r) => r.cpuCores))})`,
  );
  const w = [52, 8, 8, 12];
  console.log(row(['', 'idle', 'storm', 'storm/idle'], w));
  const line = (label, f) => {
    const ratios = cycles.map((r) => f(r.storm) / f(r.idle));
    console.log(row([label, fmt(m('idle', f)), fmt(m('storm', f)), fmt(median(ratios))], w));
  };
  line('event-loop delay p50 (ms, raw histogram)', (r) => r.eld.p50);
  line('event-loop delay p99 (ms, raw histogram)', (r) => r.eld.p99);
  line('event-loop delay max (ms, raw histogram)', (r) => r.eld.max);
  line('  p99 beyond the 10 ms timer (ms)', (r) => r.eld.p99 - RESOLUTION_MS);
  line('probe GET /health/live p50 (ms)', (r) => r.probe.p50);
  line('probe GET /health/live p99 (ms)', (r) => r.probe.p99);
  line('main thread on CPU (ms per s)', (r) => r.mainCpu);
  line('main thread ready but waiting for a CPU (ms per s)', (r) => r.mainWait);
  line('other threads on CPU (ms per s: threadpool, GC)', (r) => r.otherCpu);
  console.log(
    "(main CPU / main wait / pool CPU columns: ms per second from /proc/<pid>/task/*/schedstat; 'main wait' is " +
      'run-queue time of the event-loop thread)',
  );
  const errs = cycles.reduce((n, r) => n + r.storm.storm.errors, 0);
  const statuses = cycles.map((r) => JSON.stringify(r.storm.storm.statuses)).join(' ');
  console.log(`login errors over all storm windows: ${errs}; statuses per window: ${statuses}`);
}

async function meVersusPlatformMe(ctx) {
  if (ME_CYCLES === 0) return;
  const { apiInfo, adminToken, operatorToken } = ctx;
  const targets = {
    me: { url: `${apiInfo.base}/v1/me`, token: adminToken },
    'platform/me': { url: `${apiInfo.base}/v1/platform/me`, token: operatorToken },
  };
  const measure = (name, seconds) =>
    cannon({
      url: targets[name].url,
      seconds,
      connections: CONNECTIONS,
      headers: { authorization: `Bearer ${targets[name].token}` },
    });
  console.log(
    `\nGET /v1/me (tenant token, caches) vs GET /v1/platform/me (operator token, one consistent GetItem), same API, ` +
      `${CONNECTIONS} connections, ${ME_CYCLES} cycles x ${ME_WINDOW_S} s, warm-up ${WARMUP_S} s each`,
  );
  for (const name of Object.keys(targets)) if (WARMUP_S > 0) await measure(name, WARMUP_S);
  const widths = [18, 9, 9, 9, 7];
  console.log(row(['cycle target', 'req/s', 'p50 ms', 'p99 ms', 'errors'], widths));
  const cycles = [];
  for (let c = 0; c < ME_CYCLES; c++) {
    const results = {};
    for (const name of c % 2 ? ['platform/me', 'me'] : ['me', 'platform/me']) {
      const r = (results[name] = await measure(name, ME_WINDOW_S));
      console.log(row([`${c + 1}     ${name}`, fmt(r.rps, 0), fmt(r.p50), fmt(r.p99), r.errors], widths));
    }
    cycles.push(results);
  }
  for (const name of Object.keys(targets)) {
    const m = (k) => median(cycles.map((r) => r[name][k]));
    console.log(row([`median ${name}`, fmt(m('rps'), 0), fmt(m('p50')), fmt(m('p99')), ''], widths));
  }
  console.log(`ratio me/platform-me req/s: ${spread(cycles.map((r) => r.me.rps / r['platform/me'].rps))}`);
  console.log(`ratio me/platform-me p50:   ${spread(cycles.map((r) => r.me.p50 / r['platform/me'].p50))}`);
}

async function main() {
  const ctx = await setup();
  await logins(ctx);
  await meVersusPlatformMe(ctx);
  console.log(`load average at the end: ${loadAverage()}`);
  rmSync(ELD_FILE, { force: true });
}

run(main, BUDGET_MS);
