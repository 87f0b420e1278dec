'use strict';
/**
 * Benchmark of `GET /v1/platform/me` (authenticated; one GetItem on the control table) against two references,
 * all on the same DynamoDB Local (in memory), each target in its own process, interleaved in short windows:
 *   api   – the built API (node dist/apps/api/apps/api/src/main.js, NODE_ENV=production), via autocannon;
 *   peer  – bench/peer-server.js: bare Fastify + the same JWT check + the operator read once and kept in memory, as
 *           the API keeps it (the hand-rolled equivalent);
 *   floor – bench/floor.js: the same GetItem from the SDK alone, no HTTP (what the database round trip costs).
 * Every cycle runs each target once (order rotated per cycle); absolute figures move ±40 % with the neighbours
 * on a shared machine, so the summary is the MEDIAN of the per-cycle ratios. Then the server CPU per request
 * (utime+stime from /proc/<pid>/stat) at a fixed rate, api versus peer.
 *
 * Run: `npm run bench` (builds first) or `node bench/platform-me.js` after `npm run build`.
 * Env: BENCH_CYCLES (6), BENCH_WINDOW_S (6), BENCH_CONNECTIONS (32), BENCH_WARMUP_S (10 per target, not
 * counted), BENCH_CPU_RATE (400 req/s), BENCH_CPU_WINDOW_S (10), BENCH_CPU_CYCLES (3), and BENCH_API_NODE_ARGS /
 * BENCH_PEER_NODE_ARGS: extra node flags for that server, e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof" (the
 * profile is written when the bench stops it; summarise it with bench/profile-summary.js).
 * Needs Java 17+ (DynamoDB Local). Only 127.0.0.1 is used. Every child is stopped on success, failure or Ctrl-C.
 */
const { isDeepStrictEqual } = require('node:util');
const { join } = require('node:path');
const {
  ROOT,
  HOST,
  CLK_TCK,
  intEnv,
  progress,
  track,
  run,
  sleep,
  waitUntil,
  median,
  fmt,
  row,
  nodeArgs,
  findFreePort,
  cpuSeconds,
  cannon: cannonWindow,
  startLocal,
  startApi,
  forkReady,
  ask,
  spawn,
} = require('./lib');

const CYCLES = intEnv('BENCH_CYCLES', 6, 1, 100);
const WINDOW_S = intEnv('BENCH_WINDOW_S', 6, 1, 120);
const CONNECTIONS = intEnv('BENCH_CONNECTIONS', 32, 1, 1024);
const CPU_RATE = intEnv('BENCH_CPU_RATE', 400, 1, 100_000);
const CPU_WINDOW_S = intEnv('BENCH_CPU_WINDOW_S', 10, 1, 120);
const CPU_CYCLES = intEnv('BENCH_CPU_CYCLES', 3, 0, 50);
// DynamoDB Local's JVM needs tens of seconds under load before its JIT settles (first cycle 30-50 % slow).
const WARMUP_S = intEnv('BENCH_WARMUP_S', 10, 0, 300);
// Hard bound on the whole run: startup + warm-up + windows, times two, plus slack.
const BUDGET_MS = (120 + 3 * (WARMUP_S + CYCLES * (WINDOW_S + 2)) + 2 * CPU_CYCLES * (CPU_WINDOW_S + 2) + 10) * 2000;

const WIDTHS = [12, 10, 9, 9, 7];

/** One autocannon window with the operator's token (see lib.js `cannon`). */
const cannon = (url, token, { seconds, overallRate }) =>
  cannonWindow({ url, seconds, overallRate, connections: CONNECTIONS, headers: { authorization: `Bearer ${token}` } });

/** Starts the API, the peer and the floor on one DynamoDB Local; logs in; checks both servers answer alike. */
async function startTargets() {
  const { local, env } = await startLocal();
  const apiInfo = await startApi(env);
  const { base: apiBase, secret, operator, prefix } = apiInfo;
  progress(`DynamoDB Local ${local.endpoint} (pid ${local.pid}), table prefix ${prefix}`);
  const table = `${prefix}platform`;
  const peerPort = await findFreePort();
  const stdio = ['ignore', 'pipe', 'pipe'];
  const peerEnv = { ...env, PORT: `${peerPort}`, HOST, JWT_SECRET: secret, CONTROL_TABLE: table };
  const peerArgs = [...nodeArgs('PEER'), join(__dirname, 'peer-server.js')];
  const peer = track('peer', spawn(process.execPath, peerArgs, { cwd: ROOT, stdio, env: peerEnv }));

  // The API created the bootstrap operator at boot: log in, take the operator id from the token's `sub`.
  const login = await fetch(`${apiBase}/v1/platform/auth/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(operator),
  });
  if (!login.ok) throw new Error(`login: HTTP ${login.status} ${await login.text()}`);
  const { accessToken: token } = await login.json();
  const operatorId = JSON.parse(Buffer.from(token.split('.')[1], 'base64url')).sub;

  const urls = { api: `${apiBase}/v1/platform/me`, peer: `http://${HOST}:${peerPort}/v1/platform/me` };
  const bodies = {};
  for (const name of ['api', 'peer']) {
    await waitUntil(`${name} GET /v1/platform/me`, 30_000, async () => {
      const res = await fetch(urls[name], { headers: { authorization: `Bearer ${token}` } });
      bodies[name] = await res.json();
      return res.ok;
    });
  }
  if (!isDeepStrictEqual(bodies.api, bodies.peer)) throw new Error(`api and peer differ: ${JSON.stringify(bodies)}`);
  progress(`operator ${operatorId}: both answer ${JSON.stringify(bodies.api)}`);

  const floor = await forkReady('floor', join(__dirname, 'floor.js'), {
    ...env,
    CONTROL_TABLE: table,
    OPERATOR_ID: operatorId,
  });
  const floorWindow = (seconds) =>
    ask(floor, { run: { seconds, concurrency: CONNECTIONS } }, seconds * 1000 + 20_000, 'floor window');
  const measure = (name, seconds) => (name === 'floor' ? floorWindow(seconds) : cannon(urls[name], token, { seconds }));
  return { pids: { api: apiInfo.pid, peer: peer.pid }, urls, token, measure };
}

/** Interleaved full-load windows: each cycle runs every target once, in an order rotated per cycle. */
async function throughput({ measure }) {
  const names = ['api', 'peer', 'floor'];
  console.log(
    `\nnode ${process.version}, ${CONNECTIONS} connections/workers, ${CYCLES} cycles x ${WINDOW_S} s per target, warm-up ${WARMUP_S} s each`,
  );
  for (const name of names) if (WARMUP_S > 0) await measure(name, WARMUP_S); // JIT, sockets; not counted
  console.log(`\n${row(['cycle target', 'req/s', 'p50 ms', 'p99 ms', 'errors'], WIDTHS)}`);
  const cycles = [];
  for (let c = 0; c < CYCLES; c++) {
    const results = {};
    for (let k = 0; k < names.length; k++) {
      const name = names[(c + k) % names.length];
      const r = (results[name] = await measure(name, WINDOW_S));
      console.log(row([`${c + 1}     ${name}`, fmt(r.rps, 0), fmt(r.p50), fmt(r.p99), r.errors], WIDTHS));
    }
    cycles.push(results);
  }

  console.log(`\nmedians over ${CYCLES} cycles\n${row(['target', 'req/s', 'p50 ms', 'p99 ms'], WIDTHS)}`);
  for (const name of names) {
    const m = (key) => median(cycles.map((r) => r[name][key]));
    console.log(row([name, fmt(m('rps'), 0), fmt(m('p50')), fmt(m('p99'))], WIDTHS));
  }
  console.log('\nratios (median of the per-cycle ratios; per-cycle values in brackets)');
  for (const pair of ['api/peer', 'api/floor', 'peer/floor']) {
    const [a, b] = pair.split('/');
    for (const key of ['rps', 'p50']) {
      const rs = cycles.map((r) => r[a][key] / r[b][key]);
      const label = key === 'rps' ? 'req/s' : key;
      console.log(`  ${pair.padEnd(10)} ${label.padEnd(5)}  ${fmt(median(rs))}  [${rs.map((x) => fmt(x)).join(' ')}]`);
    }
  }
  const floorCpu = cycles.map((r) => r.floor.cpuUs);
  const perCycle = floorCpu.map((x) => fmt(x, 0)).join(' ');
  console.log(
    `\nfloor client CPU per GetItem (SDK alone, full load): median ${fmt(median(floorCpu), 0)} µs [${perCycle}]`,
  );
}

/** Server CPU (utime+stime of the process) per request at a fixed request rate, api and peer alternating. */
async function cpuPerRequest({ pids, urls, token }) {
  console.log(`\nserver CPU per request at a fixed ${CPU_RATE} req/s (${CPU_WINDOW_S} s windows, CLK_TCK ${CLK_TCK})`);
  const idle = {};
  for (const name of ['api', 'peer']) {
    const before = cpuSeconds(pids[name]);
    await sleep(3000);
    idle[name] = ((cpuSeconds(pids[name]) - before) / 3) * 1000;
  }
  console.log(`idle CPU: api ${fmt(idle.api, 1)} ms/s, peer ${fmt(idle.peer, 1)} ms/s (not subtracted)`);
  console.log(row(['cycle target', 'req/s', 'CPU s', 'µs/req', 'errors'], WIDTHS));
  const cpu = { api: [], peer: [] };
  const rates = { api: [], peer: [] };
  for (let c = 0; c < CPU_CYCLES; c++) {
    for (const name of c % 2 ? ['peer', 'api'] : ['api', 'peer']) {
      const before = cpuSeconds(pids[name]);
      const r = await cannon(urls[name], token, { seconds: CPU_WINDOW_S, overallRate: CPU_RATE });
      const used = cpuSeconds(pids[name]) - before;
      cpu[name].push((used / r.responses) * 1e6);
      rates[name].push(r.rps);
      console.log(row([`${c + 1}     ${name}`, fmt(r.rps, 0), fmt(used), fmt(cpu[name].at(-1), 0), r.errors], WIDTHS));
    }
  }
  for (const name of ['api', 'peer']) {
    const rate = median(rates[name]);
    if (rate < 0.95 * CPU_RATE) console.log(`note: ${name} reached ${fmt(rate, 0)} req/s only: measured at saturation`);
  }
  const [a, p] = [median(cpu.api), median(cpu.peer)];
  console.log(`median CPU per request: api ${fmt(a, 0)} µs, peer ${fmt(p, 0)} µs, api/peer ${fmt(a / p)}`);
}

async function main() {
  const targets = await startTargets();
  await throughput(targets);
  if (CPU_CYCLES > 0) await cpuPerRequest(targets);
}

run(main, BUDGET_MS);
