#!/usr/bin/env node
/*
 * How long `npm start` takes to be ready: runs it, polls GET /health/ready every 100 ms, prints the seconds from
 * the spawn to the first 200, then stops the API (SIGTERM) and waits for it to exit. README's figures come from it:
 *   node scripts/time-start.js            # PORT (default 3000) is the port polled and passed to the API
 */
'use strict';

const { spawn } = require('node:child_process');
const path = require('node:path');

const port = process.env.PORT ?? '3000';
const started = Date.now();
const child = spawn('npm', ['start'], {
  cwd: path.resolve(__dirname, '..'),
  env: { ...process.env, PORT: port },
  stdio: ['ignore', 'ignore', 'inherit'],
  detached: true,
});
const exited = new Promise((resolve) => child.once('exit', resolve));

async function ready() {
  for (;;) {
    if (child.exitCode !== null) throw new Error(`npm start exited with ${child.exitCode}`);
    try {
      const res = await fetch(`http://127.0.0.1:${port}/health/ready`, { signal: AbortSignal.timeout(1000) });
      if (res.status === 200) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

ready().then(
  async () => {
    process.stdout.write(`ready after ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
    process.kill(-child.pid, 'SIGTERM');
    await exited;
  },
  (error) => {
    process.stderr.write(`${error.message}\n`);
    process.exit(1);
  },
);
