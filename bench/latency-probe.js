'use strict';
/**
 * A low-rate latency probe in its own process (so that autocannon's busy event loop in the bench process does
 * not add to what it measures). Forked by bench/login-storm.js with IPC; on `{ run: { url, rate, seconds } }`
 * it sends GET `url` at a fixed rate (open loop: request i starts at t0 + i/rate whether or not the previous
 * one answered, so a stalled server is not hidden) over a keep-alive agent, and answers
 * `{ result: { sent, ok, errors, p50, p90, p99, max } }` (ms, from request start to the end of the response).
 */
const http = require('node:http');

const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
const percentile = (sorted, p) =>
  sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))] : NaN;

function once(url) {
  return new Promise((resolve) => {
    const t0 = performance.now();
    const req = http.get(url, { agent, timeout: 5000 }, (res) => {
      res.resume();
      res.on('end', () => resolve({ ok: res.statusCode === 200, ms: performance.now() - t0 }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', () => resolve({ ok: false, ms: performance.now() - t0 }));
  });
}

async function run({ url, rate, seconds }) {
  const total = Math.max(1, Math.round(rate * seconds));
  const t0 = performance.now();
  const pending = [];
  for (let i = 0; i < total; i++) {
    const wait = t0 + (i * 1000) / rate - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    pending.push(once(url));
  }
  const results = await Promise.all(pending);
  const ok = results.filter((r) => r.ok).map((r) => r.ms);
  ok.sort((a, b) => a - b);
  return {
    sent: total,
    ok: ok.length,
    errors: total - ok.length,
    p50: percentile(ok, 0.5),
    p90: percentile(ok, 0.9),
    p99: percentile(ok, 0.99),
    max: ok.at(-1),
  };
}

process.on('message', (message) => {
  if (message && message.run) {
    run(message.run).then(
      (result) => process.send({ result }),
      (error) => process.send({ error: error.message }),
    );
  }
});
process.on('disconnect', () => process.exit(0)); // the parent is gone: never outlive it
process.send({ ready: true });
