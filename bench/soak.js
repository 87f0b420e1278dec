'use strict';
/**
 * Soak: SOAK_MINUTES (10) of steady mixed traffic from several tenants. Reports the errors (must be 0), the API's
 * RSS at the start (after the warm-up) and at the end, and the latency per minute.
 *
 *  Setup, through the API only: SOAK_TENANTS (4) tenants created by the operator (waited for until `active`),
 *  SOAK_USERS (3) users with the built-in role `member` per tenant (created by the tenant's first admin), and one
 *  session per virtual client through the real `POST /v1/auth/login`.
 *  Traffic: SOAK_CLIENTS (20) virtual clients, spread over the tenants; per tenant the first client is the tenant
 *  admin (role `owner`), the others are members (two clients may share a user, never a session). Each client loops
 *  over a weighted mix (MIX below): `GET /v1/me`, list chats, create a chat, get a chat, a page of 20 messages
 *  (sometimes following `nextCursor`), `POST` a message as JSON and as SSE (the whole stream is read and must end
 *  with `event: message.completed`), rename with `If-Match`, refresh its own session now and then, delete a chat
 *  now and then; admins also list users and read `GET /v1/usage`. Chats stay small: at most MAX_CHATS per client
 *  and MAX_MESSAGES per chat (a full chat is deleted and replaced). Requests are paced to SOAK_RATE (60) req/s
 *  overall (each client gets its share; 0 = closed loop, as fast as the API answers), plain `fetch` (undici,
 *  keep-alive). Every request records its status, its latency (performance.now) and the minute it started in.
 *  An error is any unexpected status, a network error or timeout, or an SSE stream without its final event; the
 *  first SOAK_ERRORS_SHOWN (10) are printed to stderr with their details.
 *  Every SOAK_SAMPLE_S (10) s: the API's RSS, CPU time and the run-queue wait of its event-loop thread (/proc);
 *  from its /metrics: heap used, active handles, the longest event-loop delay since the previous scrape, GC time;
 *  DynamoDB Local's RSS and CPU time. A warm-up of SOAK_WARMUP_S (20) s runs the same traffic first (its errors
 *  count, its latencies do not); after the traffic, SOAK_SETTLE_S (10) s idle and one more sample.
 *
 * Output (stdout): config line, a per-minute table (requests, req/s, errors, p50/p99/max, API RSS, event-loop
 * delay, GC), a per-minute resources table, totals with the errors by kind, RSS start/end/delta, heap, the series
 * every SOAK_SAMPLE_S, a per-route table. Exit code 1 when there was any error (after printing everything).
 *
 * Run: `npm run bench:soak` (after `npm run build`). Env: SOAK_MINUTES (10), SOAK_TENANTS (4), SOAK_USERS (3),
 * SOAK_CLIENTS (20), SOAK_RATE (60; 0 = closed loop), SOAK_WARMUP_S (20), SOAK_SAMPLE_S (10), SOAK_SETTLE_S (10),
 * SOAK_ERRORS_SHOWN (10), BENCH_API_NODE_ARGS. Only 127.0.0.1; every child is stopped on success, failure or Ctrl-C.
 */
const {
  intEnv,
  progress,
  run,
  sleep,
  withTimeout,
  waitUntil,
  percentile,
  fmt,
  row,
  cpuSeconds,
  rssMiB,
  threadTimes,
  loadAverage,
  startLocal,
  startApi,
  api,
  operatorLogin,
  metricsText,
} = require('./lib');

const MINUTES = intEnv('SOAK_MINUTES', 10, 1, 240);
const TENANTS = intEnv('SOAK_TENANTS', 4, 1, 50);
const USERS = intEnv('SOAK_USERS', 3, 1, 50);
const CLIENTS = intEnv('SOAK_CLIENTS', 20, 1, 256);
const RATE = intEnv('SOAK_RATE', 60, 0, 10_000);
const WARMUP_S = intEnv('SOAK_WARMUP_S', 20, 0, 600);
const SAMPLE_S = intEnv('SOAK_SAMPLE_S', 10, 1, 60);
const SETTLE_S = intEnv('SOAK_SETTLE_S', 10, 0, 300);
const ERRORS_SHOWN = intEnv('SOAK_ERRORS_SHOWN', 10, 0, 1000);
if (CLIENTS < TENANTS) throw new Error(`SOAK_CLIENTS (${CLIENTS}) must be at least SOAK_TENANTS (${TENANTS})`);
// Setup (tenants, users, logins), the traffic, the drain and the idle sample, with room for a slow machine.
const BUDGET_MS = (180 + TENANTS * 10 + CLIENTS * 2 + WARMUP_S + MINUTES * 60 + SETTLE_S + 90) * 1000;

const MAX_CHATS = 3; // per client: creating one more deletes the oldest
const MAX_MESSAGES = 40; // per chat (20 exchanges): a full chat is deleted and replaced
const TIMEOUT_MS = 15_000; // per request
const SSE_TIMEOUT_MS = 30_000; // per streamed exchange, to the end of the stream
const PASSWORD = 'a-soak-test-password';

/** The operations and their relative weights (`admin`: only the tenant admins' clients). */
const MIX = [
  { op: 'me', weight: 8, label: 'GET /v1/me' },
  { op: 'listChats', weight: 10, label: 'list chats' },
  { op: 'createChat', weight: 5, label: `create chat (the oldest deleted first when ${MAX_CHATS})` },
  { op: 'getChat', weight: 10, label: 'get chat' },
  { op: 'listMessages', weight: 20, label: 'messages page of 20 (then the next page, if any, half the time)' },
  { op: 'postJson', weight: 12, label: 'POST message JSON' },
  { op: 'postSse', weight: 12, label: 'POST message SSE' },
  { op: 'rename', weight: 6, label: 'rename (GET, then PATCH with If-Match)' },
  { op: 'refresh', weight: 3, label: 'refresh the session' },
  { op: 'deleteChat', weight: 2, label: 'delete chat' },
  { op: 'listUsers', weight: 6, label: 'list users', admin: true },
  { op: 'usage', weight: 6, label: 'GET /v1/usage', admin: true },
];
const mixOf = (admin) => MIX.filter((m) => Boolean(m.admin) === admin).map((m) => `${m.label} ${m.weight}`);
const MIX_LABEL = `${mixOf(false).join(', ')}; the tenant admins also ${mixOf(true).join(', ')}`;

// ---- recording ----
const stats = {
  warmup: { requests: 0, errors: 0 },
  minutes: Array.from({ length: MINUTES }, () => ({ requests: 0, errors: 0, ms: [] })),
  routes: new Map(), // route -> { requests, errors, ms: [] }
  kinds: new Map(), // error kind -> count
  details: new Map(), // "route: what" -> count
  shown: 0,
};
let t0; // performance.now() at the start of the measured minutes (after the warm-up)
let stopAt = Infinity; // performance.now() after which no client starts a request

function record(client, route, started, ms, error) {
  const measured = started >= t0;
  const bucket = measured ? stats.minutes[Math.min(MINUTES - 1, Math.floor((started - t0) / 60_000))] : stats.warmup;
  bucket.requests++;
  if (measured) {
    bucket.ms.push(ms);
    if (!stats.routes.has(route)) stats.routes.set(route, { requests: 0, errors: 0, ms: [] });
    const r = stats.routes.get(route);
    r.requests++;
    r.ms.push(ms);
    if (error) r.errors++;
  }
  if (!error) return;
  bucket.errors++;
  stats.kinds.set(error.kind, (stats.kinds.get(error.kind) || 0) + 1);
  const key = `${route}: ${error.what}`;
  stats.details.set(key, (stats.details.get(key) || 0) + 1);
  if (stats.shown++ < ERRORS_SHOWN) {
    const at = t0 === undefined ? 'setup' : `${fmt((started - t0) / 1000, 1)} s`;
    progress(
      `ERROR #${stats.shown} at ${at} (${measured ? 'measured' : 'warm-up'}), client ${client.name}: ${route}: ` +
        `${error.what} after ${fmt(ms)} ms${error.requestId ? `, request id ${error.requestId}` : ''}` +
        `${error.body ? `\n  ${error.body.slice(0, 400)}` : ''}`,
    );
  }
}

class Stop extends Error {}
const hasEtag = (res) => (res.headers.get('etag') ? undefined : 'no ETag header');
const isPage = (_res, body) => (Array.isArray(body?.items) ? undefined : 'no items array');

// ---- one virtual client ----
class Client {
  constructor(base, { name, tenant, admin, session }) {
    Object.assign(this, { base, name, tenant, admin, session });
    this.chats = []; // own chats, oldest first: { id, messages }
    this.interval = RATE > 0 ? (CLIENTS / RATE) * 1000 : 0; // ms between request starts
    this.next = performance.now() + Math.random() * this.interval; // spread the clients' phases
    this.mix = MIX.filter((m) => admin || !m.admin);
    this.totalWeight = this.mix.reduce((sum, m) => sum + m.weight, 0);
  }

  /** Waits for this client's next request slot; never bursts to catch up when the API was slow. */
  async pace() {
    if (this.interval > 0) {
      const now = performance.now();
      if (this.next > now) await sleep(this.next - now);
      this.next = Math.max(this.next + this.interval, performance.now());
    }
    if (performance.now() >= stopAt) throw new Stop();
  }

  /**
   * One request: paced, timed, recorded. Returns `{ status, headers, body }` (body parsed when JSON), or
   * undefined when it counted as an error. `sse`: read the whole stream and check its last event; `check(res,
   * body)`: what is wrong with an answer of the expected status (a string), if anything.
   */
  async request(route, method, path, { body, expect, sse = false, headers: extra = {}, check } = {}) {
    await this.pace();
    const headers = { authorization: `Bearer ${this.session.accessToken}`, ...extra };
    if (body !== undefined) headers['content-type'] = 'application/json';
    if (sse) headers.accept = 'text/event-stream';
    const started = performance.now();
    let res;
    let text;
    try {
      res = await fetch(`${this.base}${path}`, {
        method,
        headers,
        body: body !== undefined ? JSON.stringify(body) : undefined,
        signal: AbortSignal.timeout(sse ? SSE_TIMEOUT_MS : TIMEOUT_MS),
      });
      text = await res.text();
    } catch (e) {
      const ms = performance.now() - started;
      const timeout = e.name === 'TimeoutError' || e.name === 'AbortError';
      const what = timeout ? `timed out (${sse ? SSE_TIMEOUT_MS : TIMEOUT_MS} ms)` : `${e.cause?.code ?? e.message}`;
      record(this, route, started, ms, { kind: timeout ? 'timeout' : 'network error', what });
      return undefined;
    }
    const ms = performance.now() - started;
    const requestId = res.headers.get('x-request-id') ?? undefined;
    if (res.status !== expect) {
      record(this, route, started, ms, {
        kind: 'unexpected status',
        what: `HTTP ${res.status}`,
        requestId,
        body: text,
      });
      return undefined;
    }
    if (sse) {
      const type = res.headers.get('content-type') ?? '';
      const events = [...text.matchAll(/^event: (.+)$/gm)].map((m) => m[1].trim());
      if (!type.includes('text/event-stream') || events.at(-1) !== 'message.completed') {
        const what = `SSE ended with ${events.at(-1) ?? 'no event'} (${events.length} events, ${type})`;
        record(this, route, started, ms, { kind: 'SSE without message.completed', what, requestId, body: text });
        return undefined;
      }
      record(this, route, started, ms);
      return { status: res.status, headers: res.headers, events };
    }
    let parsed;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      record(this, route, started, ms, { kind: 'bad body', what: 'not JSON', requestId, body: text });
      return undefined;
    }
    const wrong = check?.(res, parsed);
    if (wrong) {
      record(this, route, started, ms, { kind: 'bad body', what: wrong, requestId, body: text });
      return undefined;
    }
    record(this, route, started, ms);
    return { status: res.status, headers: res.headers, body: parsed };
  }

  randomChat() {
    return this.chats[Math.floor(Math.random() * this.chats.length)];
  }

  async createChat() {
    if (this.chats.length >= MAX_CHATS) await this.deleteChat(this.chats[0]);
    const title = `soak ${this.name} ${Date.now().toString(36)}`;
    const check = (res, body) => (body?.id && res.headers.get('etag') ? undefined : 'no id or no ETag');
    const res = await this.request('POST /v1/chats', 'POST', '/v1/chats', { body: { title }, expect: 201, check });
    if (!res) return undefined;
    this.chats.push({ id: res.body.id, messages: 0 });
    return this.chats.at(-1);
  }

  async deleteChat(chat) {
    // Forgotten whatever the answer: an error is counted, and the client does not trip over it again.
    this.chats = this.chats.filter((c) => c !== chat);
    await this.request('DELETE /v1/chats/{id}', 'DELETE', `/v1/chats/${chat.id}`, { expect: 204 });
  }

  /** A chat to post into: one with room left (a full one is deleted and replaced). */
  async chatWithRoom() {
    let chat = this.randomChat();
    if (chat && chat.messages >= MAX_MESSAGES) {
      await this.deleteChat(chat);
      chat = undefined;
    }
    return chat ?? (await this.createChat());
  }

  async postMessage(sse) {
    const chat = await this.chatWithRoom();
    if (!chat) return;
    const content = `Message ${chat.messages / 2 + 1} from ${this.name}: what is the weather like on a long soak?`;
    const route = `POST /v1/chats/{id}/messages (${sse ? 'SSE' : 'JSON'})`;
    const res = await this.request(route, 'POST', `/v1/chats/${chat.id}/messages`, {
      body: { content },
      expect: sse ? 200 : 201,
      sse,
      check: (_res, body) => (body?.assistantMessage?.content ? undefined : 'no assistantMessage'),
    });
    if (res) chat.messages += 2;
  }

  async step() {
    let pick = Math.random() * this.totalWeight;
    const { op } = this.mix.find((m) => (pick -= m.weight) < 0) ?? this.mix.at(-1);
    const chat = this.randomChat() ?? (op === 'createChat' ? undefined : await this.createChat());
    switch (op) {
      case 'me':
        return this.request('GET /v1/me', 'GET', '/v1/me', { expect: 200 });
      case 'listChats':
        return this.request('GET /v1/chats', 'GET', '/v1/chats?limit=20', { expect: 200, check: isPage });
      case 'createChat':
        return this.createChat();
      case 'getChat':
        return (
          chat && this.request('GET /v1/chats/{id}', 'GET', `/v1/chats/${chat.id}`, { expect: 200, check: hasEtag })
        );
      case 'listMessages': {
        if (!chat) return;
        const path = `/v1/chats/${chat.id}/messages?limit=20`;
        const page = await this.request('GET /v1/chats/{id}/messages', 'GET', path, { expect: 200, check: isPage });
        const cursor = page?.body?.nextCursor;
        if (!cursor || Math.random() < 0.5) return;
        const next = `${path}&cursor=${encodeURIComponent(cursor)}`;
        return this.request('GET /v1/chats/{id}/messages (next page)', 'GET', next, { expect: 200, check: isPage });
      }
      case 'postJson':
        return this.postMessage(false);
      case 'postSse':
        return this.postMessage(true);
      case 'rename': {
        if (!chat) return;
        const path = `/v1/chats/${chat.id}`;
        const got = await this.request('GET /v1/chats/{id}', 'GET', path, { expect: 200, check: hasEtag });
        if (!got) return;
        return this.request('PATCH /v1/chats/{id}', 'PATCH', path, {
          body: { title: `renamed ${Date.now().toString(36)}` },
          expect: 200,
          headers: { 'if-match': got.headers.get('etag') },
          check: hasEtag,
        });
      }
      case 'refresh': {
        const res = await this.request('POST /v1/auth/refresh', 'POST', '/v1/auth/refresh', {
          body: { refreshToken: this.session.refreshToken },
          expect: 200,
          check: (_res, body) => (body?.accessToken && body.refreshToken ? undefined : 'no token pair'),
        });
        if (res) this.session = res.body;
        return;
      }
      case 'deleteChat':
        return this.chats.length > 1 && this.deleteChat(this.randomChat());
      case 'listUsers':
        return this.request('GET /v1/users', 'GET', '/v1/users?limit=20', { expect: 200, check: isPage });
      case 'usage': {
        const month = new Date().toISOString().slice(0, 7);
        return this.request('GET /v1/usage', 'GET', `/v1/usage?month=${month}`, { expect: 200 });
      }
    }
  }

  async loop() {
    try {
      for (;;) await this.step();
    } catch (e) {
      if (!(e instanceof Stop)) throw e;
    }
  }
}

// ---- setup ----
async function setup() {
  const { local, env } = await startLocal();
  // Limits far above the soak's traffic: the soak is about errors and memory, not about 429s. Message limits
  // (defaults 20 per user and 600 per tenant per minute) at their maxima; failed-login throttling does not count
  // successful logins, raised anyway so that nothing in setup can trip it.
  const extraEnv = {
    CHAT_MESSAGES_PER_MINUTE_PER_USER: '100000',
    CHAT_MESSAGES_PER_MINUTE_PER_TENANT: '1000000',
    LOGIN_MAX_FAILURES_PER_ACCOUNT: '1000',
    LOGIN_MAX_FAILURES_PER_IP: '100000',
  };
  const apiInfo = await startApi(env, { extraEnv });
  const { base } = apiInfo;
  progress(`DynamoDB Local ${local.endpoint} (pid ${local.pid}), API ${base} (pid ${apiInfo.pid})`);
  const operatorToken = await operatorLogin(apiInfo);
  const stamp = Date.now().toString(36);
  const tenants = [];
  for (let i = 0; i < TENANTS; i++) {
    const slug = `soak-${stamp}-${i}`;
    const admin = { email: `admin@${slug}.test`, name: 'Soak admin', password: PASSWORD };
    const { body: tenant } = await api(base, 'POST', '/v1/tenants', {
      token: operatorToken,
      body: { name: `Soak tenant ${i}`, slug, admin },
      expect: [201, 202],
    });
    await waitUntil(`tenant ${slug} active`, 60_000, async () => {
      const { body } = await api(base, 'GET', `/v1/tenants/${tenant.id}`, { token: operatorToken });
      return body.status === 'active';
    });
    const { body: login } = await api(base, 'POST', '/v1/auth/login', {
      body: { tenant: slug, email: admin.email, password: PASSWORD },
      expect: [200],
    });
    const { body: roles } = await api(base, 'GET', '/v1/roles', { token: login.accessToken, expect: [200] });
    const member = roles.items.find((r) => r.name === 'member')?.id;
    if (!member) throw new Error(`tenant ${slug}: no built-in role "member"`);
    const users = [];
    for (let u = 0; u < USERS; u++) {
      const email = `user${u}@${slug}.test`;
      await api(base, 'POST', '/v1/users', {
        token: login.accessToken,
        body: { email, name: `Soak user ${u}`, password: PASSWORD, roleIds: [member] },
        expect: [201],
      });
      users.push({ email, label: `u${u}` });
    }
    tenants.push({ id: tenant.id, slug, admin: { email: admin.email, label: 'admin' }, users });
    progress(`tenant ${i + 1}/${TENANTS}: ${slug} active, admin and ${USERS} members`);
  }
  // One session per client, through the real login route (argon2id: about a tenth of a second each).
  const clients = [];
  for (let i = 0; i < CLIENTS; i++) {
    const t = i % TENANTS;
    const k = Math.floor(i / TENANTS); // 0: the tenant admin; then the members in turn
    const user = k === 0 ? tenants[t].admin : tenants[t].users[(k - 1) % USERS];
    const { body: session } = await api(base, 'POST', '/v1/auth/login', {
      body: { tenant: tenants[t].slug, email: user.email, password: PASSWORD },
      expect: [200],
    });
    clients.push(new Client(base, { name: `c${i}/t${t}/${user.label}`, tenant: t, admin: k === 0, session }));
  }
  progress(`${CLIENTS} clients signed in (${TENANTS} admins, ${CLIENTS - TENANTS} member sessions)`);
  return { apiInfo, local, clients };
}

// ---- sampling ----
async function scrape(apiInfo) {
  const text = await metricsText(apiInfo, 5000);
  // Summed over the labels (nodejs_active_handles has one series per handle type: Socket, Timer, …).
  const sum = (name) => {
    const values = [...text.matchAll(new RegExp(`^${name}(?:\\{[^}]*\\})? ([\\d.e+-]+)`, 'gm'))];
    return values.length ? values.reduce((total, m) => total + Number(m[1]), 0) : NaN;
  };
  return {
    heap: sum('nodejs_heap_size_used_bytes') / 2 ** 20,
    handles: sum('nodejs_active_handles'),
    // Since the previous scrape: prom-client resets its event-loop delay histogram on every collect.
    loopMax: sum('nodejs_eventloop_lag_max_seconds') * 1000,
    gcMs: sum('nodejs_gc_duration_seconds_sum') * 1000, // all kinds, cumulative
    gcMajor: Number(/^nodejs_gc_duration_seconds_count\{kind="major"\} (\d+)/m.exec(text)?.[1] ?? 0), // 0: none yet
  };
}

const safe = (read) => {
  try {
    return read();
  } catch {
    return NaN; // the process is gone: the requests say so
  }
};

async function takeSample({ apiInfo, local }, at) {
  const s = { at, rss: safe(() => rssMiB(apiInfo.pid)), cpu: safe(() => cpuSeconds(apiInfo.pid)) };
  // Run-queue wait of the API's main (event-loop) thread: time it was ready to run but had no CPU (a busy machine).
  s.mainWait = safe(() => threadTimes(apiInfo.pid).mainWait);
  Object.assign(s, { ddbRss: safe(() => rssMiB(local.pid)), ddbCpu: safe(() => cpuSeconds(local.pid)) });
  Object.assign(
    s,
    await scrape(apiInfo).catch((e) => {
      progress(`/metrics at ${at} s: ${e.message}`);
      return { heap: NaN, handles: NaN, loopMax: NaN, gcMs: NaN, gcMajor: NaN };
    }),
  );
  return s;
}

/** A sample every SAMPLE_S from t0 to the end of the traffic (targets k x SAMPLE_S, `at` in seconds). */
async function sampler(ctx, samples) {
  const end = MINUTES * 60;
  for (let k = 0; ; k++) {
    const at = Math.min(k * SAMPLE_S, end);
    await sleep(Math.max(0, t0 + at * 1000 - performance.now()));
    samples.push(await takeSample(ctx, at));
    const done = stats.minutes.reduce((sum, m) => sum + m.requests, 0);
    const errors = stats.minutes.reduce((sum, m) => sum + m.errors, stats.warmup.errors);
    const s = samples.at(-1);
    progress(
      `+${String(at).padStart(4)} s  ${done} requests, ${errors} errors; API RSS ${fmt(s.rss, 1)} MiB, heap ` +
        `${fmt(s.heap, 1)} MiB, ${s.handles} handles, CPU ${fmt(s.cpu, 1)} s, loop delay max ` +
        `${fmt(s.loopMax, 0)} ms, GC ${fmt(s.gcMs, 0)} ms (${s.gcMajor} major); DynamoDB Local RSS ` +
        `${fmt(s.ddbRss, 1)} MiB, CPU ${fmt(s.ddbCpu, 1)} s; load ${loadAverage()}`,
    );
    if (at === end) break;
  }
}

// ---- report ----
const sorted = (xs) => Float64Array.from(xs).sort();
const latency = (xs) => {
  const s = sorted(xs);
  return [percentile(s, 0.5), percentile(s, 0.99), s.length ? s[s.length - 1] : NaN];
};
const signed = (x, digits = 1) => `${x >= 0 ? '+' : ''}${fmt(x, digits)}`;

function report(samples, idle, drainedAt) {
  const at = (sec) => samples.filter((s) => s.at <= sec).at(-1);
  const inMinute = (i) => samples.filter((x) => x.at > i * 60 && x.at <= (i + 1) * 60);
  const values = (i, key) => inMinute(i).map((x) => x[key]);
  const most = (i, key, pick) => pick(...values(i, key).filter(Number.isFinite));
  const delta = (i, key) => at((i + 1) * 60)[key] - at(i * 60)[key];
  const percent = (i, key) => `${fmt((delta(i, key) / (at((i + 1) * 60).at - at(i * 60).at || 1)) * 100, 0)} %`;

  console.log(
    `\nper minute: latency of the requests started in that minute (SSE: to the end of the stream); API RSS at the ` +
      `end of the minute; the API's longest event-loop delay and its time in GC (all kinds) in that minute`,
  );
  let widths = [7, 9, 6, 7, 8, 8, 8, 8, 10, 8, 6];
  const header = ['minute', 'requests', 'req/s', 'errors', 'p50 ms', 'p99 ms', 'max ms', 'API RSS'];
  console.log(row([...header, 'loop max ms', 'GC ms', 'major'], widths));
  console.log(row(['warm-up', stats.warmup.requests, '', stats.warmup.errors], widths));
  stats.minutes.forEach((m, i) => {
    const [p50, p99, max] = latency(m.ms);
    const cells = [i + 1, m.requests, fmt(m.requests / 60, 1), m.errors, fmt(p50), fmt(p99), fmt(max)];
    cells.push(fmt(at((i + 1) * 60).rss, 1), fmt(most(i, 'loopMax', Math.max), 1), fmt(delta(i, 'gcMs'), 0));
    console.log(row([...cells, delta(i, 'gcMajor')], widths));
  });
  console.log(
    `\nper minute, resources (samples every ${SAMPLE_S} s): API RSS highest; API heap used lowest (follows the ` +
      `post-GC floor) and highest; API handles at the end; CPU in % of one core; "loop wait": share of the time the ` +
      `API's event-loop thread was runnable but had no CPU (the machine's other load); DDB = DynamoDB Local`,
  );
  widths = [7, 8, 9, 9, 8, 8, 10, 8, 8];
  const resources = ['minute', 'RSS max', 'heap min', 'heap max', 'handles', 'API CPU', 'loop wait'];
  console.log(row([...resources, 'DDB RSS', 'DDB CPU'], widths));
  stats.minutes.forEach((_m, i) => {
    const cells = [i + 1, fmt(most(i, 'rss', Math.max), 1), fmt(most(i, 'heap', Math.min), 1)];
    cells.push(fmt(most(i, 'heap', Math.max), 1), at((i + 1) * 60).handles, percent(i, 'cpu'), percent(i, 'mainWait'));
    console.log(row([...cells, fmt(at((i + 1) * 60).ddbRss, 0), percent(i, 'ddbCpu')], widths));
  });

  const all = stats.minutes.flatMap((m) => m.ms);
  const requests = stats.minutes.reduce((sum, m) => sum + m.requests, 0);
  const errors = [...stats.kinds.values()].reduce((sum, n) => sum + n, 0);
  const [p50, p99, max] = latency(all);
  const kinds = ['unexpected status', 'network error', 'timeout', 'SSE without message.completed', 'bad body'];
  for (const kind of stats.kinds.keys()) if (!kinds.includes(kind)) kinds.push(kind);
  console.log(`\ntotals over ${MINUTES} min (warm-up not included in the requests and latencies)`);
  console.log(`requests: ${requests} (${fmt(requests / (MINUTES * 60), 1)} req/s)`);
  console.log(
    `errors: ${errors} (must be 0; warm-up included): ` +
      kinds.map((k) => `${k} ${stats.kinds.get(k) || 0}`).join(', '),
  );
  for (const [what, n] of [...stats.details].sort((a, b) => b[1] - a[1])) console.log(`  ${n} x ${what}`);
  console.log(`latency: p50 ${fmt(p50)} ms, p99 ${fmt(p99)} ms, max ${fmt(max)} ms`);
  if (RATE > 0 && requests / (MINUTES * 60) < 0.95 * RATE) {
    console.log(
      `note: ${fmt(requests / (MINUTES * 60), 1)} req/s of the ${RATE} asked: the API (or this machine) fell behind`,
    );
  }
  const [start, end] = [samples[0], samples.at(-1)];
  console.log(
    `API RSS: start ${fmt(start.rss, 1)} MiB (after the ${WARMUP_S} s warm-up), end ${fmt(end.rss, 1)} MiB, ` +
      `delta ${signed(end.rss - start.rss)} MiB (${signed(((end.rss - start.rss) / start.rss) * 100)} %); ` +
      `after ${SETTLE_S} s idle ${fmt(idle.rss, 1)} MiB`,
  );
  console.log(
    `API heap used: start ${fmt(start.heap, 1)} MiB, end ${fmt(end.heap, 1)} MiB, ` +
      `delta ${signed(end.heap - start.heap)} MiB; after ${SETTLE_S} s idle ${fmt(idle.heap, 1)} MiB. ` +
      `Active handles: ${start.handles} -> ${end.handles} (idle ${idle.handles})`,
  );
  console.log(
    `DynamoDB Local RSS: start ${fmt(start.ddbRss, 1)} MiB, end ${fmt(end.ddbRss, 1)} MiB ` +
      `(JVM heap and the in-memory tables: not a leak signal of the API)`,
  );
  const cpu = end.cpu - start.cpu;
  console.log(
    `API CPU: ${fmt(cpu, 1)} s over ${MINUTES} min (${fmt((cpu / (MINUTES * 60)) * 100, 0)} % of one core), ` +
      `${fmt((cpu / requests) * 1e6, 0)} µs per request; traffic drained ${fmt(drainedAt, 1)} s after the end`,
  );
  const floor = (i) => most(i, 'heap', Math.min);
  console.log(
    `API heap floor (lowest sample of the minute): first minute ${fmt(floor(0), 1)} MiB, last minute ` +
      `${fmt(floor(MINUTES - 1), 1)} MiB, delta ${signed(floor(MINUTES - 1) - floor(0))} MiB`,
  );
  console.log(
    `API GC: ${fmt(end.gcMs - start.gcMs, 0)} ms in ${end.gcMajor - start.gcMajor} major and the other collections ` +
      `(${fmt(((end.gcMs - start.gcMs) / (MINUTES * 60_000)) * 100, 1)} % of the time); longest event-loop delay ` +
      `${fmt(Math.max(...samples.slice(1).map((x) => x.loopMax)), 1)} ms`,
  );
  for (const [key, label] of [
    ['rss', 'API RSS'],
    ['heap', 'API heap used'],
  ]) {
    const every = samples.map((x) => fmt(x[key], 0));
    for (let i = 0; i < every.length; i += 31) {
      console.log(`${label} every ${SAMPLE_S} s (MiB)${i ? ', cont.' : ''}: ${every.slice(i, i + 31).join(' ')}`);
    }
  }

  console.log('\nper route (measured minutes)');
  const rw = [44, 9, 7, 8, 8, 8];
  console.log(row(['route', 'requests', 'errors', 'p50 ms', 'p99 ms', 'max ms'], rw));
  const routes = [...stats.routes].sort((a, b) => b[1].requests - a[1].requests);
  for (const [route, r] of routes)
    console.log(row([route, r.requests, r.errors, ...latency(r.ms).map((x) => fmt(x))], rw));
  console.log(`load average at the end: ${loadAverage()}`);
  return errors;
}

async function main() {
  const ctx = await setup();
  const { clients } = ctx;
  console.log(
    `\nnode ${process.version}, soak: ${MINUTES} min after a ${WARMUP_S} s warm-up, ${TENANTS} tenant(s) x ` +
      `(1 admin + ${USERS} member(s)), ${CLIENTS} clients (one session each; per tenant 1 admin client), ` +
      `${RATE > 0 ? `paced to ${RATE} req/s overall` : 'closed loop'}, echo provider; load average ${loadAverage()}`,
  );
  console.log(`mix (weights): ${MIX_LABEL}; at most ${MAX_CHATS} chats per client, ${MAX_MESSAGES} messages per chat`);
  t0 = performance.now() + WARMUP_S * 1000;
  stopAt = t0 + MINUTES * 60_000;
  progress(`traffic: ${WARMUP_S} s warm-up, then ${MINUTES} min measured`);
  const samples = [];
  const traffic = Promise.all(clients.map((c) => c.loop())).then(() => (performance.now() - stopAt) / 1000);
  const [drainedAt] = await withTimeout(
    Promise.all([traffic, sleep(WARMUP_S * 1000).then(() => sampler(ctx, samples))]),
    (WARMUP_S + MINUTES * 60) * 1000 + SSE_TIMEOUT_MS + 30_000,
    'traffic',
  );
  progress(`traffic over; ${SETTLE_S} s idle`);
  await sleep(SETTLE_S * 1000);
  const idle = await takeSample(ctx, MINUTES * 60 + SETTLE_S);
  const errors = report(samples, idle, drainedAt);
  if (errors > 0) throw new Error(`${errors} errors during the soak (the first ones are printed above)`);
}

run(main, BUDGET_MS);
