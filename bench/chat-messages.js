'use strict';
/**
 * Issue "chats": the hot read and the first streamed byte.
 *
 *  1. `GET /v1/chats/{id}/messages?limit=20` on a chat of 40 messages (20 exchanges created through the API with
 *     the default `echo` provider), against two references on the same DynamoDB Local, interleaved as in
 *     bench/platform-me.js (warm-up, then cycles of one window per target, order rotated, median of the
 *     per-cycle ratios):
 *       api   – the built API, autocannon at BENCH_CONNECTIONS (32);
 *       peer  – bench/peer-messages.js: bare Fastify, the same JWT check, the same one Query, the same body;
 *       floor – bench/floor.js in Query mode: that Query from the SDK alone (document client), 32 workers, no HTTP;
 *       floor-cached – the same with FLOOR_CLIENT=cached: the client setup the API uses for this read (base client
 *                      with cacheMiddleware, util-dynamodb marshalling), to show what that setup alone is worth.
 *     Targets (issue "chats"): api/peer req/s >= 0.85 and api p50 / floor p50 <= 1.3.
 *  2. Server CPU per request at a fixed BENCH_CPU_RATE (400) req/s, api vs peer (utime+stime of the process).
 *  3. Time to first SSE byte of `POST /v1/chats/{id}/messages` (`Accept: text/event-stream`, echo provider),
 *     BENCH_SSE_REQUESTS (50) sequential requests on another chat: response headers, first body byte (the
 *     `message.created` event), first `delta` event, end; against the echo provider's own first byte (from
 *     calling EchoProvider.complete to its first onDelta, bench/echo-first-byte.js, in this process). The API's
 *     DynamoDB calls per POST (from its /metrics) say where the time before the first byte goes.
 *
 * Run: `npm run bench:chats` (after `npm run build`). Env: BENCH_CYCLES (6), BENCH_WINDOW_S (6),
 * BENCH_CONNECTIONS (32), BENCH_WARMUP_S (10 per target), BENCH_CPU_RATE (400), BENCH_CPU_WINDOW_S (10),
 * BENCH_CPU_CYCLES (3; 0 skips), BENCH_SSE_REQUESTS (50; 0 skips), BENCH_API_NODE_ARGS / BENCH_PEER_NODE_ARGS
 * (e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof-chat"; summarise with bench/profile-summary.js).
 * Only 127.0.0.1 is used; every child is stopped on success, failure or Ctrl-C.
 */
const http = require('node:http');
const { join } = require('node:path');
const { isDeepStrictEqual } = require('node:util');
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
  percentile,
  fmt,
  row,
  spread,
  nodeArgs,
  findFreePort,
  cpuSeconds,
  loadAverage,
  cannon,
  startLocal,
  startApi,
  forkReady,
  ask,
  api,
  operatorLogin,
  dynamoStats,
  spawn,
} = require('./lib');
const { echoFirstByte } = require('./echo-first-byte');

const CYCLES = intEnv('BENCH_CYCLES', 6, 1, 100);
const WINDOW_S = intEnv('BENCH_WINDOW_S', 6, 1, 120);
const CONNECTIONS = intEnv('BENCH_CONNECTIONS', 32, 1, 1024);
const WARMUP_S = intEnv('BENCH_WARMUP_S', 10, 0, 300);
const CPU_RATE = intEnv('BENCH_CPU_RATE', 400, 1, 100_000);
const CPU_WINDOW_S = intEnv('BENCH_CPU_WINDOW_S', 10, 1, 120);
const CPU_CYCLES = intEnv('BENCH_CPU_CYCLES', 3, 0, 50);
const SSE_REQUESTS = intEnv('BENCH_SSE_REQUESTS', 50, 0, 1000);
const EXCHANGES = 20; // 40 messages
const BUDGET_MS =
  (180 + 3 * (WARMUP_S + CYCLES * (WINDOW_S + 2)) + 2 * CPU_CYCLES * (CPU_WINDOW_S + 2) + SSE_REQUESTS * 2 + 30) * 2000;
const WIDTHS = [18, 10, 9, 9, 7];
const PATH_OF = (chatId) => `/v1/chats/${chatId}/messages?limit=20`;

async function setup() {
  const { local, env } = await startLocal();
  const apiInfo = await startApi(env, {
    extraEnv: { CHAT_MESSAGES_PER_MINUTE_PER_USER: '100000', CHAT_MESSAGES_PER_MINUTE_PER_TENANT: '1000000' },
  });
  progress(`DynamoDB Local ${local.endpoint}, API ${apiInfo.base} (pid ${apiInfo.pid}), prefix ${apiInfo.prefix}`);
  const operatorToken = await operatorLogin(apiInfo);
  const slug = `bc-${Date.now().toString(36)}`;
  const admin = { email: `admin@${slug}.test`, password: 'a-very-good-password' };
  const { body: tenant } = await api(apiInfo.base, 'POST', '/v1/tenants', {
    token: operatorToken,
    body: { name: 'Bench chats', slug, admin: { ...admin, name: 'Admin' } },
    expect: [201],
  });
  const { body: login } = await api(apiInfo.base, 'POST', '/v1/auth/login', { body: { tenant: slug, ...admin } });
  const token = login.accessToken;
  const { body: chat } = await api(apiInfo.base, 'POST', '/v1/chats', { token, body: { title: 'bench' } });
  for (let i = 0; i < EXCHANGES; i++) {
    await api(apiInfo.base, 'POST', `/v1/chats/${chat.id}/messages`, {
      token,
      body: { content: `Message ${i}: how long does it take to read the last twenty messages of a chat?` },
      expect: [201],
    });
  }
  const { body: sseChat } = await api(apiInfo.base, 'POST', '/v1/chats', { token, body: { title: 'bench sse' } });
  progress(`tenant ${tenant.id}, chat ${chat.id} with ${2 * EXCHANGES} messages`);

  const peerPort = await findFreePort();
  const peerEnv = { ...env, PORT: `${peerPort}`, HOST, JWT_SECRET: apiInfo.secret, TABLE_PREFIX: apiInfo.prefix };
  const peerArgs = [...nodeArgs('PEER'), join(__dirname, 'peer-messages.js')];
  const stdio = ['ignore', 'pipe', 'pipe'];
  const peer = track('peer', spawn(process.execPath, peerArgs, { cwd: ROOT, stdio, env: peerEnv }));
  const urls = {
    api: `${apiInfo.base}${PATH_OF(chat.id)}`,
    peer: `http://${HOST}:${peerPort}${PATH_OF(chat.id)}`,
  };
  const bodies = {};
  for (const name of ['api', 'peer']) {
    await waitUntil(`${name} GET messages`, 30_000, async () => {
      const res = await fetch(urls[name], { headers: { authorization: `Bearer ${token}` } });
      bodies[name] = await res.json();
      return res.ok;
    });
  }
  // The cursors carry the second they were issued (and a MAC over it): compared without it, which must be close.
  const comparable = ({ items, nextCursor }) => {
    const { t, ...rest } = JSON.parse(Buffer.from(String(nextCursor).split('.')[0], 'base64url').toString('utf8'));
    return { items, cursor: rest, t };
  };
  const [a, p] = [comparable(bodies.api), comparable(bodies.peer)];
  if (!isDeepStrictEqual({ ...a, t: 0 }, { ...p, t: 0 }) || Math.abs(a.t - p.t) > 60) {
    throw new Error(`api and peer differ: ${JSON.stringify(bodies)}`);
  }
  if (bodies.api.items.length !== 20 || !bodies.api.nextCursor) throw new Error('expected 20 messages and a cursor');
  progress(`api and peer answer alike: 20 messages, nextCursor ${bodies.api.nextCursor.slice(0, 24)}...`);

  const floorEnv = { ...env, FLOOR_QUERY_TABLE: tenant.tableName, FLOOR_CHAT_ID: chat.id };
  const floors = {
    floor: await forkReady('floor', join(__dirname, 'floor.js'), floorEnv),
    'floor-cached': await forkReady('floor-cached', join(__dirname, 'floor.js'), {
      ...floorEnv,
      FLOOR_CLIENT: 'cached',
    }),
  };
  const measure = (name, seconds) =>
    floors[name]
      ? ask(floors[name], { run: { seconds, concurrency: CONNECTIONS } }, seconds * 1000 + 20_000, `${name} window`)
      : cannon({ url: urls[name], seconds, connections: CONNECTIONS, headers: { authorization: `Bearer ${token}` } });
  return { apiInfo, token, chat, sseChat, urls, measure, pids: { api: apiInfo.pid, peer: peer.pid } };
}

async function throughput({ measure }) {
  const names = ['api', 'peer', 'floor', 'floor-cached'];
  console.log(
    `\nnode ${process.version}, GET /v1/chats/{id}/messages?limit=20 (chat of ${2 * EXCHANGES} messages), ` +
      `${CONNECTIONS} connections/workers, ${CYCLES} cycles x ${WINDOW_S} s per target, warm-up ${WARMUP_S} s each; ` +
      `load average ${loadAverage()}`,
  );
  for (const name of names) if (WARMUP_S > 0) await measure(name, WARMUP_S);
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
  const ratios = {};
  for (const pair of ['api/peer', 'api/floor', 'peer/floor', 'api/floor-cached']) {
    const [a, b] = pair.split('/');
    for (const key of ['rps', 'p50']) {
      const rs = cycles.map((r) => r[a][key] / r[b][key]);
      ratios[`${pair} ${key}`] = median(rs);
      console.log(`  ${pair.padEnd(16)} ${(key === 'rps' ? 'req/s' : key).padEnd(5)}  ${spread(rs)}`);
    }
  }
  const verdict = (ok) => (ok ? 'MET' : 'NOT MET');
  console.log(
    `\ntargets: api/peer req/s >= 0.85: ${fmt(ratios['api/peer rps'])} ${verdict(ratios['api/peer rps'] >= 0.85)}; ` +
      `api p50 / floor p50 <= 1.3: ${fmt(ratios['api/floor p50'])} ${verdict(ratios['api/floor p50'] <= 1.3)}`,
  );
  const floorCpu = cycles.map((r) => r.floor.cpuUs);
  console.log(`floor client CPU per Query (SDK alone, full load): ${spread(floorCpu, 0)} µs`);
  const cachedCpu = cycles.map((r) => r['floor-cached'].cpuUs);
  console.log(`floor-cached client CPU per Query (the API's client setup, full load): ${spread(cachedCpu, 0)} µs`);
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
      const r = await cannon({
        url: urls[name],
        seconds: CPU_WINDOW_S,
        connections: CONNECTIONS,
        overallRate: CPU_RATE,
        headers: { authorization: `Bearer ${token}` },
      });
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

/** One SSE POST: ms to response headers, first body byte, first `delta` event, end. */
function ssePost(apiInfo, agent, token, chatId, content) {
  const body = JSON.stringify({ content });
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const at = {};
    let text = '';
    const req = http.request(
      {
        host: HOST,
        port: apiInfo.port,
        method: 'POST',
        path: `/v1/chats/${chatId}/messages`,
        agent,
        timeout: 10_000,
        headers: {
          authorization: `Bearer ${token}`,
          accept: 'text/event-stream',
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(body),
        },
      },
      (res) => {
        at.headers = performance.now() - t0;
        if (res.statusCode !== 200) {
          res.resume();
          return reject(new Error(`SSE POST: HTTP ${res.statusCode}`));
        }
        res.setEncoding('utf8');
        res.on('data', (chunk) => {
          at.firstByte ??= performance.now() - t0;
          text += chunk;
          if (at.firstDelta === undefined && text.includes('event: delta')) at.firstDelta = performance.now() - t0;
        });
        res.on('end', () => {
          at.end = performance.now() - t0;
          if (!text.includes('event: message.completed')) return reject(new Error(`SSE: no completion: ${text}`));
          resolve(at);
        });
      },
    );
    req.on('timeout', () => req.destroy(new Error('SSE POST timed out')));
    req.on('error', reject);
    req.end(body);
  });
}

async function firstByte({ apiInfo, token, sseChat }) {
  const echo = await echoFirstByte(SSE_REQUESTS);
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  // Warm-up (not counted): JIT of the write path.
  for (let i = 0; i < 5; i++) await ssePost(apiInfo, agent, token, sseChat.id, `warm-up ${i}`);
  const before = await dynamoStats(apiInfo);
  const samples = [];
  for (let i = 0; i < SSE_REQUESTS; i++) {
    samples.push(await ssePost(apiInfo, agent, token, sseChat.id, `Streamed message ${i}: say something back`));
  }
  const after = await dynamoStats(apiInfo);
  agent.destroy();
  const stat = (key) => {
    const xs = samples.map((s) => s[key]).sort((a, b) => a - b);
    return [median(xs), percentile(xs, 0.9), xs.at(-1)];
  };
  console.log(
    `\ntime to first SSE byte: POST /v1/chats/{id}/messages, Accept: text/event-stream, echo provider, ` +
      `${SSE_REQUESTS} sequential requests (after 5 not counted), one keep-alive connection, idle server`,
  );
  const widths = [52, 9, 9, 9];
  console.log(row(['ms from request start to', 'p50', 'p90', 'max'], widths));
  for (const [key, label] of [
    ['headers', 'response headers (200, text/event-stream)'],
    ['firstByte', 'first body byte (event: message.created)'],
    ['firstDelta', 'first event: delta (first reply text)'],
    ['end', 'end of stream (event: message.completed)'],
  ]) {
    console.log(row([label, ...stat(key).map((x) => fmt(x))], widths));
  }
  console.log(
    row(
      ['echo provider alone: complete() to first onDelta', fmt(echo.p50, 3), fmt(echo.p90, 3), fmt(echo.max, 3)],
      widths,
    ),
  );
  console.log(row(['echo provider alone: complete() to its end', fmt(echo.totalP50), '', ''], widths));
  const firstByteP50 = median(samples.map((s) => s.firstByte));
  const firstDeltaP50 = median(samples.map((s) => s.firstDelta));
  console.log(
    `API first byte - provider first byte (p50): ${fmt(firstByteP50 - echo.p50)} ms to message.created, ` +
      `${fmt(firstDeltaP50 - echo.p50)} ms to the first delta`,
  );
  const ops = Object.keys(after).filter((op) => after[op].count - (before[op]?.count ?? 0) > 0);
  const parts = ops.map((op) => {
    const n = after[op].count - (before[op]?.count ?? 0);
    const ms = ((after[op].sum - (before[op]?.sum ?? 0)) / n) * 1000;
    return `${op} ${fmt(n / SSE_REQUESTS, 1)} x ${fmt(ms)} ms`;
  });
  console.log(`API DynamoDB calls per POST (count x mean latency): ${parts.join(', ')}`);
}

async function main() {
  const ctx = await setup();
  await throughput(ctx);
  if (CPU_CYCLES > 0) await cpuPerRequest(ctx);
  if (SSE_REQUESTS > 0) await firstByte(ctx);
  console.log(`load average at the end: ${loadAverage()}`);
}

run(main, BUDGET_MS);
