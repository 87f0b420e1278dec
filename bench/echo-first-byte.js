'use strict';
/**
 * The echo provider's own first byte: the time from calling EchoProvider.complete (the built
 * dist/apps/api/apps/api/src/chats/llm/echo.provider.js, or BENCH_DIST's, default 2 ms between words, as the API uses it) to its
 * first onDelta, in this process, `count` sequential calls (each runs to completion before the next). Used by
 * bench/chat-messages.js to compare with the API's time to first SSE byte; standalone:
 *   node bench/echo-first-byte.js [count=50]     → JSON { count, p50, p90, max, totalP50 } (ms)
 */
const { join, resolve } = require('node:path');

// The same build as the benchmarked API (BENCH_DIST: see bench/lib.js).
const DIST = process.env.BENCH_DIST
  ? resolve(__dirname, '..', process.env.BENCH_DIST)
  : join(__dirname, '..', 'dist/apps/api');
const ECHO = join(DIST, 'apps/api/src/chats/llm/echo.provider.js');

async function echoFirstByte(count = 50, content = 'hello from the benchmark, message') {
  const { EchoProvider } = require(ECHO);
  const provider = new EchoProvider();
  const first = [];
  const total = [];
  for (let i = 0; i < count; i++) {
    const signal = new AbortController().signal;
    let firstAt;
    const t0 = performance.now();
    await provider.complete({
      model: 'echo-1',
      messages: [{ role: 'user', content: `${content} ${i}` }],
      signal,
      onDelta: () => {
        firstAt ??= performance.now();
      },
    });
    first.push(firstAt - t0);
    total.push(performance.now() - t0);
  }
  const sorted = (xs) => [...xs].sort((a, b) => a - b);
  const pick = (xs, p) => sorted(xs)[Math.min(xs.length - 1, Math.floor(xs.length * p))];
  return { count, p50: pick(first, 0.5), p90: pick(first, 0.9), max: pick(first, 1), totalP50: pick(total, 0.5) };
}

module.exports = { echoFirstByte };

if (require.main === module) {
  echoFirstByte(Number(process.argv[2] || 50)).then(
    (r) => console.log(JSON.stringify(r)),
    (error) => {
      console.error(error);
      process.exit(1);
    },
  );
}
