'use strict';
/**
 * Issue "tenants": does resolving the tenant get slower when there are many? `GET /v1/me` (the smallest
 * authenticated tenant-scoped route: token → tenant (TenantRegistry LRU, 5 s TTL) → user (UserCache, 5 s TTL) →
 * permissions (RolesCache, 10 s TTL), no DynamoDB call while the entries are fresh) is loaded by autocannon in
 * two phases, interleaved in short windows:
 *   one  – every request carries the token of the same tenant;
 *   many – N tenants (default 1000) and requests spread over all of them, one token per tenant, rotated
 *          round-robin by autocannon's `setupRequest`.
 * Both phases use the same rotation code (a list of 1 token vs N tokens). Per window: req/s, p50/p99 (ms), the
 * API's DynamoDB calls per second (from its own /metrics: the cache refreshes) and its RSS (VmRSS).
 * Summary: medians per phase and the median of the per-cycle ratios many/one.
 *
 * Setup: the tenants are created through the API (`POST /v1/tenants` as the bootstrap operator, BENCH_CREATE_
 * CONCURRENCY at once; each one creates a table on DynamoDB Local, so 1000 take minutes: progress on stderr).
 * The tokens are minted here with the JWT secret given to the API (HS256, the API's header, claims and kid), for
 * each tenant's first admin, whose id is read from the tenant table (`EMAIL#<email>` / `EMAIL` → ownerId); one
 * real login checks that a minted token and an issued one are treated alike.
 *
 * Run: `npm run bench:tenants` (after `npm run build`). Env: BENCH_TENANTS (1000), BENCH_CREATE_CONCURRENCY (8),
 * BENCH_CYCLES (6), BENCH_WINDOW_S (8), BENCH_CONNECTIONS (32), BENCH_WARMUP_S (10 per phase), BENCH_API_NODE_ARGS.
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
  api,
  operatorLogin,
  claimsOf,
  dynamoStats,
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
// Creation is the long part (~0.3-1 s per tenant on a busy machine, CREATE_CONCURRENCY at a time).
const BUDGET_MS = (180 + TENANTS * 1.5 + 2 * (WARMUP_S + CYCLES * (WINDOW_S + 3)) + 60) * 1000;
const PASSWORD = 'a-very-good-password';
const WIDTHS = [12, 7, 8, 8, 6, 9, 7, 7, 9, 9, 7];

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

/** A window of GET /v1/me with the tokens rotated round-robin over all connections; DynamoDB calls and RSS. */
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
  const before = await dynamoStats(apiInfo);
  const cpu0 = { api: cpuSeconds(apiInfo.pid), local: cpuSeconds(localPid) };
  const r = await cannon({ url: apiInfo.base, seconds, connections: CONNECTIONS, requests });
  const cores = {
    api: (cpuSeconds(apiInfo.pid) - cpu0.api) / r.seconds,
    local: (cpuSeconds(localPid) - cpu0.local) / r.seconds,
  };
  const after = await dynamoStats(apiInfo);
  const delta = (op, k) => (after[op]?.[k] ?? 0) - (before[op]?.[k] ?? 0);
  const calls = delta('GetItem', 'count') + delta('Query', 'count');
  return {
    ...r,
    getItemPerS: delta('GetItem', 'count') / r.seconds,
    queryPerS: delta('Query', 'count') / r.seconds,
    // Mean latency of the API's GetItem + Query calls in this window (the cache refreshes).
    ddbMs: calls ? ((delta('GetItem', 'sum') + delta('Query', 'sum')) / calls) * 1000 : NaN,
    apiCores: cores.api,
    apiCpuMsPerReq: r.rps ? (cores.api / r.rps) * 1000 : NaN,
    localCores: cores.local,
    rss: rssMiB(apiInfo.pid),
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
  const apiInfo = await startApi(env, { extraEnv: { DYNAMODB_TIMEOUT_MS: '10000' } });
  progress(`DynamoDB Local ${local.endpoint}, API ${apiInfo.base} (pid ${apiInfo.pid}), prefix ${apiInfo.prefix}`);
  const operatorToken = await operatorLogin(apiInfo);
  const rssIdle = rssMiB(apiInfo.pid);

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
  for (const i of [1, Math.floor(TENANTS / 2), TENANTS - 1]) {
    const me = await api(apiInfo.base, 'GET', '/v1/me', { token: tokens[i] });
    if (me.body.tenant.id !== tenants[i].id) throw new Error(`tenant ${i}: /v1/me answered another tenant`);
  }
  progress(`tokens ready; /v1/me answers ${JSON.stringify(minted.body).slice(0, 160)}...`);

  const phases = { one: [tokens[0]], many: tokens };
  console.log(
    `\nnode ${process.version}, ${TENANTS} tenants (created in ${fmt(createSeconds, 0)} s, ${fmt(TENANTS / createSeconds, 1)}/s ` +
      `at concurrency ${CREATE_CONCURRENCY}, ${retries} retried), GET /v1/me, ${CONNECTIONS} connections, ${CYCLES} cycles x ${WINDOW_S} s per phase, ` +
      `warm-up ${WARMUP_S} s each; load average ${loadAverage()}`,
  );
  console.log(
    `API RSS idle before creating tenants: ${fmt(rssIdle, 1)} MiB; after: ${fmt(rssMiB(apiInfo.pid), 1)} MiB`,
  );
  console.log(
    `DynamoDB Local alone (200 sequential consistent GetItems from the bench after 200 not counted, idle API): ` +
      `p50/p99 ` +
      `${fmt(latencyOne.p50)}/${fmt(latencyOne.p99)} ms with 1 tenant table, ` +
      `${fmt(latencyMany.p50)}/${fmt(latencyMany.p99)} ms with ${TENANTS}`,
  );
  for (const name of ['one', 'many']) if (WARMUP_S > 0) await window(apiInfo, local.pid, phases[name], WARMUP_S);

  const header = ['cycle phase', 'req/s', 'p50 ms', 'p99 ms', 'errors', 'GetItem/s', 'Query/s', 'DDB ms'];
  header.push('API cores', 'JVM cores', 'RSS MiB');
  console.log(`\n${row(header, WIDTHS)}`);
  const cycles = [];
  for (let c = 0; c < CYCLES; c++) {
    const results = {};
    for (const name of c % 2 ? ['many', 'one'] : ['one', 'many']) {
      const r = (results[name] = await window(apiInfo, local.pid, phases[name], WINDOW_S));
      const cells = [`${c + 1}     ${name}`, fmt(r.rps, 0), fmt(r.p50), fmt(r.p99), r.errors];
      cells.push(fmt(r.getItemPerS, 0), fmt(r.queryPerS, 0), fmt(r.ddbMs, 1), fmt(r.apiCores), fmt(r.localCores));
      console.log(row([...cells, fmt(r.rss, 1)], WIDTHS));
    }
    cycles.push(results);
  }

  console.log(`\nmedians over ${CYCLES} cycles (one = 1 tenant, many = ${TENANTS} tenants)`);
  console.log(row(['phase', ...header.slice(1)], WIDTHS));
  for (const name of ['one', 'many']) {
    const m = (key) => median(cycles.map((r) => r[name][key]));
    const cells = [name, fmt(m('rps'), 0), fmt(m('p50')), fmt(m('p99')), fmt(m('errors'), 0)];
    cells.push(fmt(m('getItemPerS'), 0), fmt(m('queryPerS'), 0), fmt(m('ddbMs'), 1), fmt(m('apiCores')));
    console.log(row([...cells, fmt(m('localCores')), fmt(m('rss'), 1)], WIDTHS));
  }
  console.log('\nratios many/one (median of the per-cycle ratios; per-cycle values in brackets)');
  for (const [key, label] of [
    ['rps', 'req/s'],
    ['p50', 'p50'],
    ['p99', 'p99'],
  ]) {
    console.log(`  ${label.padEnd(6)} ${spread(cycles.map((r) => r.many[key] / r.one[key]))}`);
  }
  const rss = cycles.map((r) => r.many.rss - r.one.rss);
  console.log(`  RSS many - one: ${spread(rss, 1)} MiB (read at the end of each window)`);
  const extra = cycles.map((r) => r.many.getItemPerS + r.many.queryPerS - r.one.getItemPerS - r.one.queryPerS);
  console.log(
    `  DynamoDB calls/s many - one: ${spread(extra, 0)} (cache refreshes; GetItem = tenant + user, Query = roles)`,
  );
  const perRequest = cycles.map((r) => (r.many.getItemPerS + r.many.queryPerS) / r.many.rps);
  console.log(`  DynamoDB calls per request in 'many': ${spread(perRequest)} (3 = tenant, user and roles all missed)`);
  const cpuMs = (name) => fmt(median(cycles.map((r) => r[name].apiCpuMsPerReq)));
  const cpuRatio = cycles.map((r) => r.many.apiCpuMsPerReq / r.one.apiCpuMsPerReq);
  console.log(
    `  API CPU per request: one ${cpuMs('one')} ms, many ${cpuMs('many')} ms; many/one ${spread(cpuRatio, 1)}`,
  );
  console.log(`load average at the end: ${loadAverage()}`);
}

run(main, BUDGET_MS);
