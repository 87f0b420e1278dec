'use strict';
/**
 * Summarises a V8 .cpuprofile (node --cpu-prof, e.g. BENCH_API_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof"):
 *   node bench/profile-summary.js <file.cpuprofile> [top=25] [skipSeconds=0]
 * skipSeconds drops the first samples (process start-up, Nest bootstrap, warm-up) to see the steady state.
 * Three views, as % of the non-idle samples:
 *  - by component: each sample goes to the first frame, walking from the leaf up, that belongs to a known
 *    component, so node internals (socket writes, require, async hooks) are charged to whoever called them;
 *  - by package: "self" = top frame in the package, "on stack" = the package anywhere on the stack;
 *  - top functions by self time.
 */
const { readFileSync } = require('node:fs');

const [file, topArg, skipArg] = process.argv.slice(2);
if (!file) throw new Error('usage: node bench/profile-summary.js <file.cpuprofile> [top] [skipSeconds]');
const top = Number(topArg || 25);
const skipUs = Number(skipArg || 0) * 1e6;
const profile = JSON.parse(readFileSync(file, 'utf8'));

const COMPONENTS = [
  ['dynamoose', /node_modules\/(dynamoose|js-object-utilities)\//],
  ['aws-sdk (smithy, sigv4, lib-dynamodb)', /node_modules\/(@smithy|@aws-sdk|@aws-crypto)\//],
  ['jwt (jsonwebtoken, jws)', /node_modules\/(jsonwebtoken|jws|jwa)\//],
  ['logging (pino, pino-http)', /node_modules\/(pino|pino-http|nestjs-pino|@pinojs\/redact|pino-std-serializers)\//],
  ['request id (ulid)', /node_modules\/ulid\//],
  ['metrics (prom-client)', /node_modules\/prom-client\//],
  ['helmet, cors, middie', /node_modules\/(@fastify\/helmet|helmet|@fastify\/cors|@fastify\/middie|path-to-regexp)\//],
  ['validation (class-validator, class-transformer)', /node_modules\/(class-validator|class-transformer|validator)\//],
  ['caches (lru-cache)', /node_modules\/lru-cache\//],
  ['rate limiter (rate-limiter-flexible)', /node_modules\/rate-limiter-flexible\//],
  ['nest', /node_modules\/@nestjs\//],
  ['app code (dist/)', /dist\/apps\/|dist-snapshot\//],
  ['bench peer (peer-server.js, peer-messages.js)', /bench\/peer-/],
  ['fastify, find-my-way', /node_modules\/(fastify|find-my-way|avvio|fast-json-stringify|@fastify\/[^/]+)\//],
  ['rxjs', /node_modules\/rxjs\//],
];

function packageOf({ url, functionName }) {
  if (!url) return functionName.startsWith('(') ? functionName : '(native)';
  const mod = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (mod) return mod[1];
  // dist/apps/api/… or bench/results/dist-snapshot/… (bench/run-all.js's copy of dist/apps/api)
  const own = /(?:dist\/apps\/[^/]+|dist-snapshot)\/((?:apps|libs)\/[^/]+)/.exec(url);
  if (own) return `app:${own[1]}`;
  if (url.startsWith('node:')) return `node:${url.slice(5).split('/')[0]}`;
  return url.replace(/^file:\/\//, '');
}

const nodes = new Map(profile.nodes.map((n) => [n.id, n]));
const parent = new Map();
for (const n of profile.nodes) for (const c of n.children || []) parent.set(c, n.id);
const add = (map, key, n) => map.set(key, (map.get(key) || 0) + n);

const ticks = new Map(); // node id -> sample count
let at = 0;
let kept = 0;
profile.samples.forEach((id, i) => {
  at += profile.timeDeltas[i];
  if (at < skipUs) return;
  kept++;
  add(ticks, id, 1);
});

const [components, self, onStack, fns] = [new Map(), new Map(), new Map(), new Map()];
let busy = 0;
for (const [id, count] of ticks) {
  const frame = nodes.get(id).callFrame;
  if (frame.functionName === '(idle)') continue;
  busy += count;
  const pkg = packageOf(frame);
  add(self, pkg, count);
  add(fns, `${frame.functionName || '(anonymous)'} ${pkg}:${frame.lineNumber + 1}`, count);
  const seen = new Set();
  let component = frame.functionName === '(garbage collector)' ? 'GC' : undefined;
  for (let n = id; n !== undefined; n = parent.get(n)) {
    const { callFrame } = nodes.get(n);
    seen.add(packageOf(callFrame));
    component ??= COMPONENTS.find(([, re]) => re.test(callFrame.url))?.[0];
  }
  add(components, component ?? 'node core (http, event loop, microtasks)', count);
  for (const p of seen) add(onStack, p, count);
}

const pct = (n) => `${((100 * n) / busy).toFixed(1).padStart(5)} %`;
const sorted = (map) => [...map].sort((a, b) => b[1] - a[1]).slice(0, top);
const seconds = (profile.endTime - profile.startTime - skipUs) / 1e6;
console.log(`${file}: last ${seconds.toFixed(1)} s, ${busy} busy samples of ${kept}`);
console.log('\nby component (leaf-up attribution)');
for (const [name, n] of sorted(components)) console.log(`  ${pct(n)}  ${name}`);
console.log('\nby package: self | on stack');
for (const [pkg, n] of sorted(self)) console.log(`  ${pct(n)} | ${pct(onStack.get(pkg))}  ${pkg}`);
console.log('\ntop functions (self)');
for (const [fn, n] of sorted(fns)) console.log(`  ${pct(n)}  ${fn}`);
