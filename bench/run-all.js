'use strict';
/**
 * `npm run bench:all`: runs the six benchmarks one after the other (never two at once: they share 2 cores; the
 * soak last), shows their output as it comes, keeps each one's results (its stdout; progress goes to stderr), and
 * rewrites the generated blocks of bench/README.md:
 *   <!-- bench:machine:start --> … <!-- bench:machine:end -->            date, nproc, CPU, node, java, versions
 *   <!-- bench:results:<name>:start --> … <!-- bench:results:<name>:end -->  one per benchmark
 * Everything outside the markers (the prose about method and the reading of the results) is kept as it is.
 * A benchmark that fails is recorded as failed (exit code and its last stderr lines, then whatever it printed on
 * stdout: the soak prints its tables and exits 1 when a request failed) and the others still run.
 *
 * Env: BENCH_ONLY (comma-separated names, e.g. "tenants,chats": run and rewrite only those), BENCH_README
 * (another file to rewrite, e.g. for a dry run), BENCH_SCRIPT_TIMEOUT_MIN (60 per benchmark). Other BENCH_*
 * variables reach every benchmark (BENCH_CYCLES applies to all of them).
 * Ctrl-C/SIGTERM is passed to the running benchmark, which stops its children; then this exits.
 *
 * The build (`npm run build`, run by the npm script just before) is copied to bench/results/dist-snapshot/ and the
 * benchmarks run that copy (BENCH_DIST): other people rebuild dist/ while a 30-minute run goes on, and each
 * benchmark starts its own API. The copy is removed at the end. With BENCH_DIST already set, that is used.
 */
const { spawn, spawnSync } = require('node:child_process');
const { cpSync, existsSync, readdirSync, readFileSync, rmSync, writeFileSync } = require('node:fs');
const { join } = require('node:path');
const { cpus } = require('node:os');

const ROOT = join(__dirname, '..');
const README = process.env.BENCH_README || join(__dirname, 'README.md');
const TIMEOUT_MS = Number(process.env.BENCH_SCRIPT_TIMEOUT_MIN || 60) * 60_000;
const SNAPSHOT = join(__dirname, 'results', 'dist-snapshot'); // git-, eslint- and prettier-ignored
const removeSnapshot = () => !process.env.BENCH_DIST && rmSync(SNAPSHOT, { recursive: true, force: true });

const BENCHMARKS = [
  { name: 'platform-me', file: 'platform-me.js', command: 'npm run bench' },
  { name: 'tenants', file: 'tenant-resolution.js', command: 'npm run bench:tenants' },
  { name: 'login', file: 'login-storm.js', command: 'npm run bench:login' },
  { name: 'chats', file: 'chat-messages.js', command: 'npm run bench:chats' },
  { name: 'tokenizer', file: 'tokenizer.js', command: 'npm run bench:tokenizer' },
  { name: 'soak', file: 'soak.js', command: 'npm run bench:soak' },
];

const only = (process.env.BENCH_ONLY || '').split(',').filter(Boolean);
for (const name of only) {
  if (!BENCHMARKS.some((b) => b.name === name)) throw new Error(`BENCH_ONLY: unknown benchmark ${name}`);
}
const selected = BENCHMARKS.filter((b) => only.length === 0 || only.includes(b.name));

const loadAverage = () => readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
const utc = (d) => `${d.toISOString().replace('T', ' ').slice(0, 19)} UTC`;
const version = (pkg) => {
  try {
    return JSON.parse(readFileSync(join(ROOT, 'node_modules', pkg, 'package.json'), 'utf8')).version;
  } catch {
    return '?';
  }
};

let current; // the running benchmark's child process
let interrupted = false;
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => {
    interrupted = true;
    if (current) current.kill(signal);
    else {
      removeSnapshot();
      process.exit(1);
    }
  });
}

function runOne(bench) {
  return new Promise((resolve) => {
    const started = new Date();
    const loadBefore = loadAverage();
    const stdout = [];
    const stderrTail = [];
    const child = spawn(process.execPath, [join(__dirname, bench.file)], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, BENCH_DIST: process.env.BENCH_DIST || SNAPSHOT },
    });
    current = child;
    child.stdout.on('data', (chunk) => {
      stdout.push(chunk);
      process.stdout.write(chunk);
    });
    child.stderr.on('data', (chunk) => {
      process.stderr.write(chunk);
      stderrTail.push(...String(chunk).trimEnd().split('\n'));
      stderrTail.splice(0, Math.max(0, stderrTail.length - 15));
    });
    const timer = setTimeout(() => {
      process.stderr.write(`\n${bench.name}: over ${TIMEOUT_MS / 60_000} min, stopping it\n`);
      child.kill('SIGTERM');
    }, TIMEOUT_MS);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      current = undefined;
      const ended = new Date();
      resolve({
        ...bench,
        code: code ?? signal,
        started,
        minutes: (ended - started) / 60_000,
        loadBefore,
        loadAfter: loadAverage(),
        output: Buffer.concat(stdout)
          .toString('utf8')
          .split('\n')
          .map((line) => line.trimEnd())
          .join('\n')
          .trim(),
        stderrTail,
      });
    });
  });
}

function machineBlock(started) {
  const java = spawnSync('java', ['-version'], { encoding: 'utf8' });
  const javaLine = `${java.stderr || ''}${java.stdout || ''}`.split('\n')[0].trim() || 'java: not found';
  const nproc = spawnSync('nproc', { encoding: 'utf8' }).stdout?.trim() || String(cpus().length);
  let simulator = '?';
  try {
    simulator = readdirSync(join(ROOT, '.cache', 'dynamodb-local')).join(', ');
  } catch {
    /* not fetched yet */
  }
  const versions = [
    `autocannon ${version('autocannon')}`,
    `fastify ${version('fastify')}`,
    `@aws-sdk/client-dynamodb ${version('@aws-sdk/client-dynamodb')}`,
    `dynamoose ${version('dynamoose')}`,
    `@node-rs/argon2 ${version('@node-rs/argon2')}`,
  ].join(', ');
  return [
    '```',
    `${utc(started)}   (${only.length ? `BENCH_ONLY=${only.join(',')} ` : ''}npm run bench:all)`,
    `nproc: ${nproc}                                  (${cpus()[0]?.model ?? 'unknown CPU'})`,
    `node ${process.version}`,
    javaLine,
    `DynamoDB Local from amplify-dynamodb-simulator ${simulator}; ${versions}`,
    '```',
  ].join('\n');
}

function resultBlock(r) {
  const head =
    `Recorded by \`npm run bench:all\` (same as \`${r.command}\`), started ${utc(r.started)}, ` +
    `${r.minutes.toFixed(1)} min, load average ${r.loadBefore} → ${r.loadAfter}.`;
  if (r.code !== 0) {
    const tail = `**Failed** (exit ${r.code}). Last lines of its stderr:\n\n\`\`\`\n${r.stderrTail.join('\n')}\n\`\`\``;
    // What it printed on stdout before failing (the soak prints its tables, then exits 1 when a request failed).
    return r.output ? `${head}\n\n${tail}\n\nIts stdout:\n\n\`\`\`\n${r.output}\n\`\`\`` : `${head}\n\n${tail}`;
  }
  return `${head}\n\n\`\`\`\n${r.output}\n\`\`\``;
}

function replaceBlock(text, marker, content) {
  const start = `<!-- ${marker}:start -->`;
  const end = `<!-- ${marker}:end -->`;
  const a = text.indexOf(start);
  const b = text.indexOf(end);
  if (a < 0 || b < a) {
    process.stderr.write(`README: markers ${start} … ${end} not found; appending a section\n`);
    return `${text.trimEnd()}\n\n${start}\n\n${content}\n\n${end}\n`;
  }
  // Blank lines around the content and no trailing spaces: what prettier leaves (npm run format:check).
  return `${text.slice(0, a + start.length)}\n\n${content}\n\n${text.slice(b)}`;
}

async function main() {
  const started = new Date();
  const results = [];
  if (!process.env.BENCH_DIST) {
    const built = join(ROOT, 'dist/apps/api');
    if (!existsSync(join(built, 'apps/api/src/main.js'))) throw new Error('dist/apps/api is missing: npm run build');
    rmSync(SNAPSHOT, { recursive: true, force: true });
    cpSync(built, SNAPSHOT, { recursive: true });
    process.stderr.write(`snapshot of dist/apps/api in ${SNAPSHOT}\n`);
  }
  for (const bench of selected) {
    if (interrupted) break;
    process.stderr.write(`\n=== ${bench.name}: node bench/${bench.file} (load average ${loadAverage()}) ===\n`);
    const r = await runOne(bench);
    results.push(r);
    process.stderr.write(`=== ${bench.name}: exit ${r.code}, ${r.minutes.toFixed(1)} min ===\n`);
  }
  removeSnapshot();
  if (interrupted) {
    process.stderr.write('interrupted: README not rewritten\n');
    process.exit(1);
  }
  let text = existsSync(README) ? readFileSync(README, 'utf8') : '# Benchmarks\n';
  text = replaceBlock(text, 'bench:machine', machineBlock(started));
  for (const r of results) text = replaceBlock(text, `bench:results:${r.name}`, resultBlock(r));
  writeFileSync(README, text);
  process.stderr.write(`\nrewrote ${README}\n`);
  const failed = results.filter((r) => r.code !== 0);
  for (const r of results) process.stderr.write(`  ${r.name.padEnd(12)} exit ${r.code}  ${r.minutes.toFixed(1)} min\n`);
  process.exit(failed.length ? 1 : 0);
}

main().catch((error) => {
  console.error(error);
  if (current) current.kill('SIGTERM');
  removeSnapshot();
  process.exit(1);
});
