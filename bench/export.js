'use strict';
/**
 * Tenant export throughput and memory (docs/export-import.md; bench/README.md "Export").
 *
 * One tenant with BENCH_EXPORT_ITEMS message items (default 100 000, in chats of 1 000), seeded straight into its
 * table with BatchWriteItem (fast, not what is measured). Then, BENCH_EXPORT_ROUNDS times, alternately:
 *  - the export as an operator runs it: `tenants:export <slug> --out <file>` of the built CLI (a child process;
 *    the tenant is suspended, so the export is the consistent one), its items/s as the CLI reports them (from the
 *    first Scan to the file's last byte: Scan, JSON, sha256, gzip, file), its RSS sampled every 100 ms;
 *  - a raw parallel Scan of the same table from Node, in a fresh process too (same segments, strongly consistent,
 *    1 MB pages, the low-level client, items counted and dropped).
 * Prints each round's figures, their ratios, the export's RSS over its run (deciles of the export window), and
 * one more export with the V8 heap capped (BENCH_EXPORT_HEAP_CAP_MB, 64): it completes only if the export's memory
 * does not grow with the tenant.
 */
const { spawn } = require('node:child_process');
const { randomBytes } = require('node:crypto');
const { mkdtempSync, rmSync, statSync } = require('node:fs');
const { tmpdir } = require('node:os');
const { join } = require('node:path');
const { DynamoDBClient, ScanCommand, BatchWriteItemCommand } = require('@aws-sdk/client-dynamodb');
const { ROOT, intEnv, progress, run, startLocal, rssMiB, loadAverage } = require('./lib');

const CLI = join(ROOT, 'dist/apps/cli/apps/cli/src/main.js');
const ITEMS = intEnv('BENCH_EXPORT_ITEMS', 100_000, 1_000, 5_000_000);
const ROUNDS = intEnv('BENCH_EXPORT_ROUNDS', 5, 1, 10);
/** The export's segment count (tenant-export.service.ts SEGMENTS): the raw Scan uses the same. */
const SEGMENTS = 8;
const PER_CHAT = 1000;
const HEAP_CAP_MB = intEnv('BENCH_EXPORT_HEAP_CAP_MB', 64, 16, 4096);

function cli(args, env, { onPid, nodeArgs = [] } = {}) {
  return new Promise((done, fail) => {
    // Not tracked by lib.js (whose tracker treats any exit as a failure): each run is short and awaited.
    const child = spawn(process.execPath, [...nodeArgs, CLI, ...args], {
      cwd: ROOT,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    onPid?.(child.pid);
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.once('exit', (code) => {
      if (code === 0) done(stdout);
      else fail(new Error(`cli ${args.join(' ')} exited ${code}: ${stderr}`));
    });
  });
}

async function seed(ddb, table) {
  // Chat-like text (40 words of a 300-word vocabulary): gzip works as on real messages, neither a run of one
  // character nor random bytes.
  const vocabulary = Array.from({ length: 300 }, (_, i) =>
    randomBytes(6)
      .toString('hex')
      .slice(0, 3 + (i % 7)),
  );
  const text = () => Array.from({ length: 40 }, () => vocabulary[Math.floor(Math.random() * 300)]).join(' ');
  const started = Date.now();
  let written = 0;
  const batches = [];
  for (let c = 0; c < Math.ceil(ITEMS / PER_CHAT); c++) {
    const chatId = `01BENCH${String(c).padStart(19, '0')}`;
    for (let m = 0; m < PER_CHAT && c * PER_CHAT + m < ITEMS; m += 25) {
      const n = Math.min(25, PER_CHAT - m, ITEMS - c * PER_CHAT - m);
      batches.push(
        Array.from({ length: n }, (_, k) => {
          const id = `01MSG${String(c * PER_CHAT + m + k).padStart(21, '0')}`;
          return {
            PutRequest: {
              Item: {
                pk: { S: `CHAT#${chatId}` },
                sk: { S: `MSG#${id}` },
                id: { S: id },
                chatId: { S: chatId },
                role: { S: k % 2 ? 'assistant' : 'user' },
                content: { S: text() },
                status: { S: 'complete' },
                tokens: { N: '42' },
                createdAt: { S: new Date().toISOString() },
              },
            },
          };
        }),
      );
    }
  }
  let next = 0;
  const worker = async () => {
    while (next < batches.length) {
      let pending = batches[next++];
      while (pending.length > 0) {
        const out = await ddb.send(new BatchWriteItemCommand({ RequestItems: { [table]: pending } }));
        written += pending.length - (out.UnprocessedItems?.[table]?.length ?? 0);
        pending = out.UnprocessedItems?.[table] ?? [];
      }
      if (next % 400 === 0 && next < batches.length) progress(`seeded ${written}/${ITEMS}`);
    }
  };
  await Promise.all(Array.from({ length: 16 }, worker));
  progress(`seeded ${written} items in ${((Date.now() - started) / 1000).toFixed(1)} s`);
}

/** A client like the API's (keep-alive), on DynamoDB Local. */
const localClient = (endpoint) =>
  new DynamoDBClient({
    region: 'us-east-1',
    endpoint,
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  });

/**
 * The raw Scan in a fresh Node process of its own, as the export runs in the CLI's: both start cold (JIT, sockets)
 * and share the machine alike; in the long-lived bench process the Scan ran warm and the comparison was unfair.
 */
function rawScan(endpoint, table) {
  return new Promise((done, fail) => {
    const child = spawn(process.execPath, [__filename, '--raw-scan', endpoint, table], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let stdout = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.once('exit', (code) => (code === 0 ? done(JSON.parse(stdout)) : fail(new Error(`raw scan exited ${code}`))));
  });
}

async function rawScanHere(ddb, table) {
  const started = process.hrtime.bigint();
  const counts = await Promise.all(
    Array.from({ length: SEGMENTS }, async (_, segment) => {
      let n = 0;
      let start;
      do {
        const page = await ddb.send(
          new ScanCommand({
            TableName: table,
            Segment: segment,
            TotalSegments: SEGMENTS,
            ConsistentRead: true,
            ExclusiveStartKey: start,
          }),
        );
        n += page.Items?.length ?? 0;
        start = page.LastEvaluatedKey;
      } while (start);
      return n;
    }),
  );
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  const items = counts.reduce((a, b) => a + b, 0);
  return { items, seconds, itemsPerSecond: Math.round(items / seconds) };
}

async function exportOnce(env, slug, out, nodeArgs = []) {
  const samples = [];
  let timer;
  const stdout = await cli(['tenants:export', slug, '--out', out, '--json'], env, {
    nodeArgs,
    onPid: (pid) => {
      timer = setInterval(() => {
        try {
          const mib = rssMiB(pid);
          if (Number.isFinite(mib)) samples.push({ at: Date.now(), mib });
        } catch {
          // the process has just exited
        }
      }, 100);
    },
  });
  clearInterval(timer);
  const ended = Date.now();
  const result = JSON.parse(stdout);
  // The export's own window: its last `seconds` before the process printed the result.
  const window = samples.filter((s) => s.at >= ended - result.seconds * 1000 - 150);
  const round1 = (x) => (x === undefined ? x : Math.round(x * 10) / 10);
  const deciles = Array.from({ length: 10 }, (_, i) =>
    round1(window[Math.min(window.length - 1, Math.floor((i * window.length) / 10))]?.mib),
  );
  return {
    ...result,
    rss: { deciles, peak: round1(Math.max(...window.map((s) => s.mib))), samples: window.length },
    bytes: statSync(out).size,
  };
}

async function main() {
  const { env: base } = await startLocal();
  const env = {
    ...base,
    NODE_ENV: 'production',
    LOG_LEVEL: 'warn',
    // DynamoDB Local on a shared, loaded machine answers a 1 MB Scan page in seconds at times: the 3 s default
    // request timeout would fail the run, not measure it.
    DYNAMODB_TIMEOUT_MS: '30000',
    TABLE_PREFIX: `bench-${Date.now().toString(36)}-`,
    JWT_SECRET: randomBytes(32).toString('base64url'),
    SECRETS_KEYS: `bench:${randomBytes(32).toString('base64')}`,
    TENANT_ADMIN_PASSWORD: 'a-very-good-password',
    BOOTSTRAP_OPERATOR_EMAIL: 'bench-operator@example.com',
    BOOTSTRAP_OPERATOR_PASSWORD: randomBytes(12).toString('base64url'),
  };
  const dir = mkdtempSync(join(tmpdir(), 'bench-export-'));
  try {
    const slug = 'bench-export';
    const created = await cli(
      ['tenants:create', '--name', 'Bench', '--slug', slug, '--admin-email', 'a@bench.test'],
      env,
    );
    const id = /([0-9A-Z]{26})/.exec(created)[1];
    const table = `${env.TABLE_PREFIX}t-${id}`;
    const ddb = localClient(env.DYNAMODB_ENDPOINT);
    await seed(ddb, table);
    await cli(['tenants:suspend', slug], env);
    const load = loadAverage();
    const exports = [];
    const scans = [];
    const exportRound = async (round) => {
      const e = await exportOnce(env, slug, join(dir, `export-${round}.ndjson.gz`));
      progress(
        `round ${round}: export ${e.items} items in ${e.seconds} s (${e.itemsPerSecond}/s), RSS peak ${e.rss.peak} MiB`,
      );
      exports.push(e);
    };
    const scanRound = async (round) => {
      const s = await rawScan(env.DYNAMODB_ENDPOINT, table);
      progress(`round ${round}: raw Scan ${s.items} items in ${s.seconds.toFixed(2)} s (${s.itemsPerSecond}/s)`);
      scans.push(s);
    };
    // Alternate which goes first, so that neither always runs on a warmer (or busier) database.
    for (let round = 1; round <= ROUNDS; round++) {
      if (round % 2) await exportRound(round).then(() => scanRound(round));
      else await scanRound(round).then(() => exportRound(round));
    }
    // The same export with the V8 heap capped: if memory grew with the tenant's size it would fail here; RSS
    // growth in the runs above is then the collector's lazy sizing under a high allocation rate, not live data.
    const capped = await exportOnce(env, slug, join(dir, 'export-capped.ndjson.gz'), [
      `--max-old-space-size=${HEAP_CAP_MB}`,
    ]);
    progress(
      `capped heap (${HEAP_CAP_MB} MB): export ${capped.items} items in ${capped.seconds} s, RSS peak ${capped.rss.peak} MiB`,
    );
    const best = (xs) => xs.reduce((a, b) => (b.itemsPerSecond > a.itemsPerSecond ? b : a));
    const ratios = exports.map((e, i) => Number((e.itemsPerSecond / scans[i].itemsPerSecond).toFixed(2)));
    const result = {
      items: exports[0].items,
      seeded: ITEMS,
      rounds: ROUNDS,
      segments: SEGMENTS,
      loadAverageBefore: load,
      loadAverageAfter: loadAverage(),
      exportItemsPerSecond: exports.map((e) => e.itemsPerSecond),
      rawScanItemsPerSecond: scans.map((x) => x.itemsPerSecond),
      ratioPerRound: ratios,
      // Each round's export and Scan ran back to back, under the same load: the median of their ratios is the figure
      // a busy machine spoils least (the best of each may come from different quiet moments).
      ratioMedian: [...ratios].sort((a, b) => a - b)[Math.floor(ratios.length / 2)],
      ratioOfBest: Number((best(exports).itemsPerSecond / best(scans).itemsPerSecond).toFixed(2)),
      exportFileMiB: Number((exports[0].bytes / 2 ** 20).toFixed(2)),
      rssMiBDecilesOfExport: exports.map((e) => e.rss.deciles),
      rssPeakMiB: exports.map((e) => e.rss.peak),
      cappedHeap: {
        maxOldSpaceMB: HEAP_CAP_MB,
        itemsPerSecond: capped.itemsPerSecond,
        rssMiBDeciles: capped.rss.deciles,
        rssPeakMiB: capped.rss.peak,
      },
    };
    process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
    ddb.destroy();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[2] === '--raw-scan') {
  const ddb = localClient(process.argv[3]);
  rawScanHere(ddb, process.argv[4]).then((r) => {
    process.stdout.write(JSON.stringify(r));
    ddb.destroy();
  });
} else {
  run(main, 30 * 60_000);
}
