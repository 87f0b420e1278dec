'use strict';
/**
 * Issue "tenants": does resolving the tenant get slower, or cost more, when requests are spread over many
 * tenants? `GET /v1/me` is the smallest authenticated tenant-scoped route: token (verified-token cache) → tenant
 * (TenantRegistry) → user (UserCache) and the tenant's roles (RolesCache), the last two read at once. The three
 * are FeedCaches (libs/tenancy/src/feed-cache.ts): bounded LRUs whose entries live until the change feed names
 * them (libs/tenancy/src/change-feed.ts; one Query a second per instance, whatever the number of tenants), so
 * once a caller has been seen its requests should cost no DynamoDB call. autocannon loads it in two phases,
 * interleaved in short windows:
 *   one  – every request carries the token of the same tenant;
 *   many – N tenants (default 1000) and requests spread over all of them, one token per tenant, rotated
 *          round-robin by autocannon's `setupRequest`.
 * Both phases use the same rotation code (a list of 1 token vs N tokens). Per window: req/s, p50/p99 (ms), the
 * API's DynamoDB calls beyond the feed's own polling (every operation in dynamodb_request_duration_seconds_count
 * minus change_feed_queries_total, from its /metrics) per second and per request, the feed's Queries per second,
 * the CPU of the API and of DynamoDB Local's JVM in cores (/proc/<pid>/stat) and the API's RSS (VmRSS).
 * Summary: medians per phase, the median of the per-cycle ratios many/one, and the targets.
 *
 * Before the first measured window, once the feed has delivered the change records that creating the tenants
 * wrote (each activation writes one; the bench waits 3 s, the revocation bound being 2 s), every tenant's caller
 * is seen once (one GET /v1/me per token, 8 at a time, each checked to answer its own tenant): the cold reads are
 * counted there (calls per first request), apart from the windows. Memory: the API's RSS and V8 heap used
 * before creating the tenants, after creating them, after that pass and at the end, each read right after full
 * garbage collections (the API runs with --inspect on 127.0.0.1 and the bench asks for
 * HeapProfiler.collectGarbage), so that they are what it retains, not where the GC sawtooth is; "per 1 000 warm
 * tenants" is (after the pass − before creating) scaled to 1 000. After the cycles, an idle window (BENCH_IDLE_S,
 * no traffic) measures what following the feed costs on its own: the API's DynamoDB calls/s and CPU in cores.
 *
 * Setup: the tenants are created through the API (`POST /v1/tenants` as the bootstrap operator, BENCH_CREATE_
 * CONCURRENCY at once; each one creates a table on DynamoDB Local, so 1000 take minutes: progress on stderr).
 * The tokens are minted here with the JWT secret given to the API (HS256, the API's header, claims and kid), for
 * each tenant's first admin, whose id is read from the tenant table (`EMAIL#<email>` / `EMAIL` → ownerId); one
 * real login checks that a minted token and an issued one are treated alike.
 *
 * Run: `npm run bench:tenants` (after `npm run build`). Env: BENCH_TENANTS (1000), BENCH_CREATE_CONCURRENCY (8),
 * BENCH_CYCLES (6), BENCH_WINDOW_S (8), BENCH_CONNECTIONS (32), BENCH_WARMUP_S (10 per phase), BENCH_IDLE_S (20),
 * BENCH_API_NODE_ARGS.
 * Only 127.0.0.1 is used; every child is stopped on success, failure or Ctrl-C.
 */
const { GetCommand } = require('@aws-sdk/lib-dynamodb');
const {
  intEnv,
  progress,
  run,
  sleep,
  median,
  fmt,
  row,
  spread,
  rssMiB,
  loadAverage,
  cannon,
  startLocal,
  startApi,
  findFreePort,
  collectGarbage,
  HOST,
  api,
  operatorLogin,
  claimsOf,
  feedStats,
  cpuSeconds,
  percentile,
  mintAccessToken,
  documentClient,
  pool,
} = require('./lib');

const TENANTS = intEnv('BENCH_TENANTS', 1000, 2, 20_000);
const CREATE_CONCURRENCY = intEnv('BENCH_CREATE_CONCURRENCY', 8, 1, 64);
const CYCLES = intEnv('BENCH_CYCLES', 6, 1, 100);
const WINDOW_S = intEnv('BENCH_WINDOW_S', 8, 1, 120);
const CONNECTIONS = intEnv('BENCH_CONNECTIONS', 32, 1, 1024);
const WARMUP_S = intEnv('BENCH_WARMUP_S', 10, 0, 300);
const IDLE_S = intEnv('BENCH_IDLE_S', 20, 0, 600);
/** Longer than the revocation bound (2 s): the change records of the tenants' creation are delivered by then. */
const FEED_SETTLE_MS = 3000;
// Creation is the long part (~0.3-1 s per tenant on a busy machine, CREATE_CONCURRENCY at a time).
const BUDGET_MS = (180 + TENANTS * 1.5 + 2 * (WARMUP_S + CYCLES * (WINDOW_S + 3)) + IDLE_S + 120) * 1000;
const PASSWORD = 'a-very-good-password';
const WIDTHS = [12, 7, 8, 8, 6, 9, 7, 8, 9, 10, 9, 7];
/** The targets, at 1 000 tenants. */
const TARGETS = { rps: 0.9, p99: 1.5, callsPerRequest: 0.05 };

async function createTenants(apiInfo, operatorToken, slugs) {
  const started = Date.now();
  let lastReport = started;
  let retries = 0;
  const tenants = await pool(
    slugs,
    CREATE_CONCURRENCY,
    async (slug) => {
      // A busy DynamoDB Local can time a CreateTable out (503): retry under a new slug (the half-made tenant
      // stays registered, which only adds to N), at most 5 times.
      for (let attempt = 0; ; attempt++) {
        const s = attempt ? `${slug}-r${attempt}` : slug;
        const email = `admin@${s}.test`;
        const body = { name: `Bench ${s}`, slug: s, admin: { email, name: 'Admin', password: PASSWORD } };
        try {
          let res = await api(apiInfo.base, 'POST', '/v1/tenants', { token: operatorToken, body, expect: [201, 202] });
          // 202: still provisioning after the API's wait; poll until active (bounded).
          for (let i = 0; res.body.status === 'provisioning' && i < 120; i++) {
            await sleep(500);
            res = await api(apiInfo.base, 'GET', `/v1/tenants/${res.body.id}`, { token: operatorToken });
          }
          if (res.body.status !== 'active') throw new Error(`tenant ${s}: status ${res.body.status}`);
          return { id: res.body.id, slug: s, tableName: res.body.tableName, email };
        } catch (error) {
          if (attempt >= 5 || !/HTTP (5\d\d|429)|status (failed|provisioning)/.test(error.message)) throw error;
          retries++;
          progress(`  retrying ${slug}: ${error.message.slice(0, 120)}`);
          await sleep(1000 * (attempt + 1));
        }
      }
    },
    (done) => {
      const now = Date.now();
      if (now - lastReport >= 10_000 || done === slugs.length) {
        lastReport = now;
        const rate = done / ((now - started) / 1000);
        progress(
          `  tenants created: ${done}/${slugs.length} (${fmt(rate, 1)}/s, ETA ${fmt((slugs.length - done) / rate, 0)} s, load ${loadAverage()})`,
        );
      }
    },
  );
  return { tenants, seconds: (Date.now() - started) / 1000, retries };
}

/** One token per tenant, for its first admin: ownerId of the `EMAIL#<email>` marker in the tenant's table. */
async function mintTokens(apiInfo, local, tenants) {
  const doc = documentClient(local.endpoint);
  const tokens = await pool(tenants, 16, async (t) => {
    const { Item } = await doc.send(
      new GetCommand({ TableName: t.tableName, Key: { pk: `EMAIL#${t.email}`, sk: 'EMAIL' }, ConsistentRead: true }),
    );
    if (!Item?.ownerId) throw new Error(`tenant ${t.slug}: admin email marker not found`);
    t.adminId = Item.ownerId;
    return mintAccessToken(apiInfo.secret, { sub: Item.ownerId, tid: t.id });
  });
  doc.destroy();
  return tokens;
}

/** DynamoDB calls by operation between two `feedStats`, the feed's own Queries taken out of `Query`. */
function callsBetween(before, after) {
  const ops = {};
  for (const op of Object.keys(after.byOp)) ops[op] = after.byOp[op] - (before.byOp[op] ?? 0);
  const feed = after.feed - before.feed;
  if (ops.Query !== undefined) ops.Query -= feed;
  for (const op of Object.keys(ops)) if (!ops[op]) delete ops[op];
  return { requests: after.calls - before.calls - feed, feed, ops };
}
const describeOps = (ops) =>
  Object.entries(ops)
    .map(([op, n]) => `${op} ${n}`)
    .join(', ') || 'none';

/**
 * A window of GET /v1/me with the tokens rotated round-robin over all connections: DynamoDB calls beyond the
 * feed's polling, the feed's own Queries, CPU and RSS.
 */
async function window(apiInfo, localPid, tokens, seconds) {
  let next = 0;
  const requests = [
    {
      method: 'GET',
      path: '/v1/me',
      setupRequest: (req) => {
        req.headers.authorization = `Bearer ${tokens[next++ % tokens.length]}`;
        return req;
      },
    },
  ];
  const before = await feedStats(apiInfo);
  const cpu0 = { api: cpuSeconds(apiInfo.pid), local: cpuSeconds(localPid) };
  const r = await cannon({ url: apiInfo.base, seconds, connections: CONNECTIONS, requests });
  const cores = {
    api: (cpuSeconds(apiInfo.pid) - cpu0.api) / r.seconds,
    local: (cpuSeconds(localPid) - cpu0.local) / r.seconds,
  };
  const calls = callsBetween(before, await feedStats(apiInfo));
  return {
    ...r,
    calls,
    ddbPerS: calls.requests / r.seconds,
    feedPerS: calls.feed / r.seconds,
    callsPerRequest: r.responses ? calls.requests / r.responses : NaN,
    apiCores: cores.api,
    apiCpuMsPerReq: r.rps ? (cores.api / r.rps) * 1000 : NaN,
    localCores: cores.local,
    rss: rssMiB(apiInfo.pid),
  };
}

/**
 * Every tenant's caller seen once (GET /v1/me per token, 8 at a time, each checked to answer its own tenant):
 * what the windows then measure is the steady state, with every entry loaded after the feed delivered the
 * creation's change records. Returns the DynamoDB calls these first requests cost.
 */
async function seeEveryCallerOnce(apiInfo, tenants, tokens) {
  const before = await feedStats(apiInfo);
  const started = performance.now();
  await pool(tokens, 8, async (token, i) => {
    const me = await api(apiInfo.base, 'GET', '/v1/me', { token, expect: [200] });
    if (me.body.tenant.id !== tenants[i].id) throw new Error(`tenant ${i}: /v1/me answered another tenant`);
  });
  return { seconds: (performance.now() - started) / 1000, calls: callsBetween(before, await feedStats(apiInfo)) };
}

/** No traffic for `seconds`: what following the feed costs on its own (DynamoDB calls, CPU). */
async function idleWindow(apiInfo, localPid, seconds) {
  const before = await feedStats(apiInfo);
  const cpu0 = { api: cpuSeconds(apiInfo.pid), local: cpuSeconds(localPid) };
  const t0 = performance.now();
  await sleep(seconds * 1000);
  const elapsed = (performance.now() - t0) / 1000;
  const cpu1 = { api: cpuSeconds(apiInfo.pid), local: cpuSeconds(localPid) };
  const after = await feedStats(apiInfo);
  return {
    seconds: elapsed,
    callsPerS: (after.calls - before.calls) / elapsed,
    feedPerS: (after.feed - before.feed) / elapsed,
    calls: callsBetween(before, after),
    apiCores: (cpu1.api - cpu0.api) / elapsed,
    localCores: (cpu1.local - cpu0.local) / elapsed,
  };
}

/**
 * `count` sequential consistent GetItems from this process: DynamoDB Local's own latency (ms), after as many
 * not counted (the JVM is still compiling right after start: without them the 1-table figure came out 3-8x slow).
 */
async function localLatency(doc, tenant, count = 200) {
  const xs = [];
  const input = {
    TableName: tenant.tableName,
    Key: { pk: `EMAIL#${tenant.email}`, sk: 'EMAIL' },
    ConsistentRead: true,
  };
  for (let i = 0; i < 2 * count; i++) {
    const t0 = performance.now();
    await doc.send(new GetCommand(input));
    if (i >= count) xs.push(performance.now() - t0);
  }
  xs.sort((a, b) => a - b);
  return { p50: percentile(xs, 0.5), p99: percentile(xs, 0.99) };
}

async function main() {
  const { local, env } = await startLocal();
  // CreateTable on a busy DynamoDB Local can pass the default 3 s timeout; reads are unaffected.
  // The inspector (127.0.0.1 only) lets the bench force full GCs before it reads the API's memory.
  const inspectPort = await findFreePort();
  const apiInfo = await startApi(env, {
    extraEnv: { DYNAMODB_TIMEOUT_MS: '10000' },
    preArgs: [`--inspect=${HOST}:${inspectPort}`],
  });
  progress(`DynamoDB Local ${local.endpoint}, API ${apiInfo.base} (pid ${apiInfo.pid}), prefix ${apiInfo.prefix}`);
  const operatorToken = await operatorLogin(apiInfo);
  const memory = async () => {
    await collectGarbage(inspectPort);
    return { rss: rssMiB(apiInfo.pid), heap: (await feedStats(apiInfo)).heapMiB };
  };
  const memIdle = await memory();

  // Tenant 0 first, alone: DynamoDB Local's own GetItem latency with 1 tenant table, then with N.
  const run = Date.now().toString(36);
  const slugs = Array.from({ length: TENANTS }, (_, i) => `bt-${run}-${i}`);
  const doc = documentClient(local.endpoint);
  const first = await createTenants(apiInfo, operatorToken, slugs.slice(0, 1));
  const latencyOne = await localLatency(doc, first.tenants[0]);
  progress(`creating ${TENANTS - 1} more tenants through POST /v1/tenants, ${CREATE_CONCURRENCY} at a time ...`);
  const rest = await createTenants(apiInfo, operatorToken, slugs.slice(1));
  const tenants = [...first.tenants, ...rest.tenants];
  const createSeconds = first.seconds + rest.seconds;
  const retries = first.retries + rest.retries;
  const latencyMany = await localLatency(doc, first.tenants[0]);
  doc.destroy();
  const tokens = await mintTokens(apiInfo, local, tenants);

  // A minted token and an issued one must give the same /v1/me.
  const login = await api(apiInfo.base, 'POST', '/v1/auth/login', {
    body: { tenant: tenants[0].slug, email: tenants[0].email, password: PASSWORD },
  });
  if (claimsOf(login.body.accessToken).sub !== tenants[0].adminId) throw new Error('minted sub differs from login');
  const issued = await api(apiInfo.base, 'GET', '/v1/me', { token: login.body.accessToken });
  const minted = await api(apiInfo.base, 'GET', '/v1/me', { token: tokens[0] });
  if (JSON.stringify(issued.body) !== JSON.stringify(minted.body)) throw new Error('minted and issued tokens differ');
  progress(`tokens ready; /v1/me answers ${JSON.stringify(minted.body).slice(0, 160)}...`);

  // The creation's change records (status, roles) delivered first, then every caller seen once.
  await sleep(FEED_SETTLE_MS);
  const memCreated = await memory();
  const applied = (await feedStats(apiInfo)).applied;
  progress(`seeing each of the ${TENANTS} callers once ...`);
  const seen = await seeEveryCallerOnce(apiInfo, tenants, tokens);
  const memWarm = await memory();

  const phases = { one: [tokens[0]], many: tokens };
  console.log(
    `\nnode ${process.version}, ${TENANTS} tenants (created in ${fmt(createSeconds, 0)} s, ${fmt(TENANTS / createSeconds, 1)}/s ` +
      `at concurrency ${CREATE_CONCURRENCY}, ${retries} retried), GET /v1/me, ${CONNECTIONS} connections, ${CYCLES} cycles x ${WINDOW_S} s per phase, ` +
      `warm-up ${WARMUP_S} s each, idle window ${IDLE_S} s; load average ${loadAverage()}`,
  );
  console.log(
    `DynamoDB Local alone (200 sequential consistent GetItems from the bench after 200 not counted, idle API): ` +
      `p50/p99 ` +
      `${fmt(latencyOne.p50)}/${fmt(latencyOne.p99)} ms with 1 tenant table, ` +
      `${fmt(latencyMany.p50)}/${fmt(latencyMany.p99)} ms with ${TENANTS}`,
  );
  console.log(
    `change records applied by the feed before the callers were first seen (${FEED_SETTLE_MS / 1000} s after the last ` +
      `creation): ${describeOps(applied)}`,
  );
  console.log(
    `each caller seen once (${TENANTS} GET /v1/me, 8 at a time, ${fmt(seen.seconds, 1)} s): ${seen.calls.requests} ` +
      `DynamoDB calls beyond the feed, ${fmt(seen.calls.requests / TENANTS)} per first request ` +
      `(${describeOps(seen.calls.ops)})`,
  );
  const perThousand = (x) => (x * 1000) / TENANTS;
  console.log(
    `API memory after full GCs (RSS / V8 heap used, MiB): before creating the tenants ${fmt(memIdle.rss, 1)} / ${fmt(memIdle.heap, 1)}, ` +
      `after creating them ${fmt(memCreated.rss, 1)} / ${fmt(memCreated.heap, 1)}, after each caller was seen once ` +
      `${fmt(memWarm.rss, 1)} / ${fmt(memWarm.heap, 1)}`,
  );
  const rssPerThousand = perThousand(memWarm.rss - memIdle.rss);
  const heapPerThousand = perThousand(memWarm.heap - memIdle.heap);
  console.log(
    `  per 1 000 warm tenants (after the first pass − before creating, scaled to 1 000; includes what creating ` +
      `them left behind): RSS ${fmt(rssPerThousand, 1)} MiB, heap ${fmt(heapPerThousand, 1)} MiB; the first pass ` +
      `alone (the caches filled): RSS ${fmt(perThousand(memWarm.rss - memCreated.rss), 1)} MiB, heap ` +
      `${fmt(perThousand(memWarm.heap - memCreated.heap), 1)} MiB`,
  );

  for (const name of ['one', 'many']) if (WARMUP_S > 0) await window(apiInfo, local.pid, phases[name], WARMUP_S);

  const header = ['cycle phase', 'req/s', 'p50 ms', 'p99 ms', 'errors', 'calls/req', 'DDB/s', 'feed Q/s'];
  header.push('API cores', 'CPU ms/req', 'JVM cores', 'RSS MiB');
  console.log(
    `\ncalls/req and DDB/s: the API's DynamoDB calls (all operations) beyond the change feed's own Queries (feed Q/s)`,
  );
  console.log(row(header, WIDTHS));
  const cells = (label, r) => [
    label,
    fmt(r.rps, 0),
    fmt(r.p50),
    fmt(r.p99),
    fmt(r.errors, 0),
    fmt(r.callsPerRequest, 3),
    fmt(r.ddbPerS, 1),
    fmt(r.feedPerS, 2),
    fmt(r.apiCores),
    fmt(r.apiCpuMsPerReq, 3),
    fmt(r.localCores),
    fmt(r.rss, 1),
  ];
  const cycles = [];
  for (let c = 0; c < CYCLES; c++) {
    const results = {};
    for (const name of c % 2 ? ['many', 'one'] : ['one', 'many']) {
      const r = (results[name] = await window(apiInfo, local.pid, phases[name], WINDOW_S));
      console.log(row(cells(`${c + 1}     ${name}`, r), WIDTHS));
    }
    cycles.push(results);
  }

  console.log(`\nmedians over ${CYCLES} cycles (one = 1 tenant, many = ${TENANTS} tenants)`);
  console.log(row(['phase', ...header.slice(1)], WIDTHS));
  const keys = ['rps', 'p50', 'p99', 'errors', 'callsPerRequest', 'ddbPerS', 'feedPerS', 'apiCores'];
  keys.push('apiCpuMsPerReq', 'localCores', 'rss');
  for (const name of ['one', 'many']) {
    const medians = Object.fromEntries(keys.map((k) => [k, median(cycles.map((r) => r[name][k]))]));
    console.log(row(cells(name, medians), WIDTHS));
  }
  const ratio = (key) => cycles.map((r) => r.many[key] / r.one[key]);
  console.log('\nratios many/one (median of the per-cycle ratios; per-cycle values in brackets)');
  for (const [key, label] of [
    ['rps', 'req/s'],
    ['p50', 'p50'],
    ['p99', 'p99'],
  ]) {
    console.log(`  ${label.padEnd(6)} ${spread(ratio(key))}`);
  }
  const rss = cycles.map((r) => r.many.rss - r.one.rss);
  console.log(`  RSS many - one: ${spread(rss, 1)} MiB (read at the end of each window)`);
  const perRequest = cycles.map((r) => r.many.callsPerRequest);
  const manyCalls = cycles.reduce((n, r) => n + r.many.calls.requests, 0);
  const manyResponses = cycles.reduce((n, r) => n + r.many.responses, 0);
  const manyOps = {};
  for (const r of cycles) for (const [op, n] of Object.entries(r.many.calls.ops)) manyOps[op] = (manyOps[op] ?? 0) + n;
  console.log(
    `  DynamoDB calls per request in 'many', beyond the feed: ${spread(perRequest, 4)}; over all its windows ` +
      `${manyCalls} calls for ${manyResponses} requests = ${fmt(manyCalls / manyResponses, 4)} (${describeOps(manyOps)})`,
  );
  const cpuMs = (name) => fmt(median(cycles.map((r) => r[name].apiCpuMsPerReq)), 3);
  console.log(
    `  API CPU per request: one ${cpuMs('one')} ms, many ${cpuMs('many')} ms; many/one ${spread(ratio('apiCpuMsPerReq'))}`,
  );

  // Idle: no traffic at all, after a moment for the last window's responses and the deferred writes to settle.
  let idle;
  if (IDLE_S > 0) {
    await sleep(2000);
    idle = await idleWindow(apiInfo, local.pid, IDLE_S);
    console.log(
      `\nidle, following the feed (${fmt(idle.seconds, 1)} s without traffic): DynamoDB calls ${fmt(idle.callsPerS, 2)}/s ` +
        `(the feed's Queries ${fmt(idle.feedPerS, 2)}/s; others: ${describeOps(idle.calls.ops)}), ` +
        `API CPU ${fmt(idle.apiCores, 4)} cores (${fmt(idle.apiCores * 1000, 1)} ms/s), ` +
        `DynamoDB Local JVM ${fmt(idle.localCores, 3)} cores`,
    );
  }

  const memEnd = await memory();
  console.log(
    `API memory at the end, after full GCs: RSS ${fmt(memEnd.rss, 1)} MiB, heap ${fmt(memEnd.heap, 1)} MiB ` +
      `(after each caller was seen once: ${fmt(memWarm.rss, 1)} / ${fmt(memWarm.heap, 1)})`,
  );

  const verdict = (ok) => (ok ? 'met' : 'MISSED');
  const rpsRatio = median(ratio('rps'));
  const p99Ratio = median(ratio('p99'));
  const calls = manyCalls / manyResponses;
  console.log(`\ntargets (issue "tenants", at ${TENANTS} tenants)`);
  console.log(`  req/s many/one ≥ ${TARGETS.rps}: ${fmt(rpsRatio)} → ${verdict(rpsRatio >= TARGETS.rps)}`);
  console.log(`  p99 many/one ≤ ${TARGETS.p99}: ${fmt(p99Ratio)} → ${verdict(p99Ratio <= TARGETS.p99)}`);
  console.log(
    `  DynamoDB calls per request in 'many' beyond the feed ≤ ${TARGETS.callsPerRequest}: ${fmt(calls, 4)} → ` +
      `${verdict(calls <= TARGETS.callsPerRequest)}`,
  );
  console.log(
    `  RSS per 1 000 warm tenants: ${fmt(rssPerThousand, 1)} MiB (V8 heap ${fmt(heapPerThousand, 1)} MiB; no target: reported)`,
  );
  if (idle) {
    console.log(
      `  idle cost of following the feed: ${fmt(idle.callsPerS, 2)} DynamoDB calls/s, ${fmt(idle.apiCores, 4)} API ` +
        `cores (no target: reported)`,
    );
  }
  console.log(`load average at the end: ${loadAverage()}`);
}

run(main, BUDGET_MS);
