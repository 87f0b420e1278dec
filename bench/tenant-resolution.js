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
  dynamoCalls,
  diffCounts,
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
const WIDTHS = [12, 9, 9, 9, 7, 9, 9, 9];

async function createTenants(apiInfo, operatorToken) {
  const run = Date.now().toString(36);
  const slugs = Array.from({ length: TENANTS }, (_, i) => `bt-${run}-${i}`);
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
      if (now - lastReport >= 10_000 || done === TENANTS) {
        lastReport = now;
        const rate = done / ((now - started) / 1000);
        progress(
          `  tenants created: ${done}/${TENANTS} (${fmt(rate, 1)}/s, ETA ${fmt((TENANTS - done) / rate, 0)} s, load ${loadAverage()})`,
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
async function window(apiInfo, tokens, seconds) {
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
  const before = await dynamoCalls(apiInfo);
  const r = await cannon({ url: apiInfo.base, seconds, connections: CONNECTIONS, requests });
  const calls = diffCounts(await dynamoCalls(apiInfo), before);
  const perSecond = (op) => (calls[op] || 0) / r.seconds;
  return {
    ...r,
    getItemPerS: perSecond('GetItem'),
    queryPerS: perSecond('Query'),
    otherPerS: Object.entries(calls)
      .filter(([op]) => op !== 'GetItem' && op !== 'Query')
      .reduce((n, [, v]) => n + v / r.seconds, 0),
    rss: rssMiB(apiInfo.pid),
  };
}

async function main() {
  const { local, env } = await startLocal();
  // CreateTable on a busy DynamoDB Local can pass the default 3 s timeout; reads are unaffected.
  const apiInfo = await startApi(env, { extraEnv: { DYNAMODB_TIMEOUT_MS: '10000' } });
  progress(`DynamoDB Local ${local.endpoint}, API ${apiInfo.base} (pid ${apiInfo.pid}), prefix ${apiInfo.prefix}`);
  const operatorToken = await operatorLogin(apiInfo);
  const rssIdle = rssMiB(apiInfo.pid);

  progress(`creating ${TENANTS} tenants through POST /v1/tenants, ${CREATE_CONCURRENCY} at a time ...`);
  const { tenants, seconds: createSeconds, retries } = await createTenants(apiInfo, operatorToken);
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
  for (const name of ['one', 'many']) if (WARMUP_S > 0) await window(apiInfo, phases[name], WARMUP_S);

  const header = ['cycle phase', 'req/s', 'p50 ms', 'p99 ms', 'errors', 'GetItem/s', 'Query/s', 'RSS MiB'];
  console.log(`\n${row(header, WIDTHS)}`);
  const cycles = [];
  for (let c = 0; c < CYCLES; c++) {
    const results = {};
    for (const name of c % 2 ? ['many', 'one'] : ['one', 'many']) {
      const r = (results[name] = await window(apiInfo, phases[name], WINDOW_S));
      const cells = [`${c + 1}     ${name}`, fmt(r.rps, 0), fmt(r.p50), fmt(r.p99), r.errors];
      console.log(row([...cells, fmt(r.getItemPerS, 0), fmt(r.queryPerS, 0), fmt(r.rss, 1)], WIDTHS));
    }
    cycles.push(results);
  }

  console.log(`\nmedians over ${CYCLES} cycles (one = 1 tenant, many = ${TENANTS} tenants)`);
  console.log(row(['phase', 'req/s', 'p50 ms', 'p99 ms', 'errors', 'GetItem/s', 'Query/s', 'RSS MiB'], WIDTHS));
  for (const name of ['one', 'many']) {
    const m = (key) => median(cycles.map((r) => r[name][key]));
    const cells = [name, fmt(m('rps'), 0), fmt(m('p50')), fmt(m('p99')), fmt(m('errors'), 0)];
    console.log(row([...cells, fmt(m('getItemPerS'), 0), fmt(m('queryPerS'), 0), fmt(m('rss'), 1)], WIDTHS));
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
  console.log(`load average at the end: ${loadAverage()}`);
}

run(main, BUDGET_MS);
