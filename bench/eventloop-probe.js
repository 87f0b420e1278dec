'use strict';
/**
 * Preloaded into the API by bench/login-storm.js: `node --require bench/eventloop-probe.js dist/.../main.js`.
 * Samples the event-loop delay with perf_hooks.monitorEventLoopDelay({ resolution: 10 }). On SIGUSR2 it writes
 * the histogram since the previous SIGUSR2 (or since start) to the file named by BENCH_ELD_FILE, as one JSON
 * object `{ seq, at, count, min, p50, p90, p99, max, mean }` (milliseconds), then resets the histogram.
 * `seq` counts the snapshots so that the reader knows the file is the new one.
 *
 * Note: the histogram records the time between two ticks of a 10 ms timer, so an idle loop reads ~10 ms; the
 * delay the loop added is the value minus 10 ms (bench/login-storm.js reports both).
 * Without BENCH_ELD_FILE it does nothing.
 */
const { monitorEventLoopDelay } = require('node:perf_hooks');
const { writeFileSync, renameSync } = require('node:fs');

const file = process.env.BENCH_ELD_FILE;
if (file) {
  const histogram = monitorEventLoopDelay({ resolution: 10 });
  histogram.enable();
  let seq = 0;
  process.on('SIGUSR2', () => {
    const ms = (ns) => ns / 1e6;
    const snapshot = {
      seq: ++seq,
      at: Date.now(),
      count: histogram.count,
      min: ms(histogram.min),
      p50: ms(histogram.percentile(50)),
      p90: ms(histogram.percentile(90)),
      p99: ms(histogram.percentile(99)),
      max: ms(histogram.max),
      mean: ms(histogram.mean),
    };
    histogram.reset();
    // Written whole, then renamed: the reader never sees a half-written file.
    writeFileSync(`${file}.tmp`, JSON.stringify(snapshot));
    renameSync(`${file}.tmp`, file);
  });
}
