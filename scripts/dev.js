#!/usr/bin/env node
/*
 * `npm run dev`: builds (incrementally, scripts/build.js), starts the API, and on every change of a source under
 * apps/ or libs/ (or tsconfig.json) builds again and restarts it. A build error leaves the running API as it is.
 * Ctrl-C stops the API (and its embedded DynamoDB Local) and exits.
 *
 * The restart stops the API with SIGTERM like any other shutdown; the drain before it closes the port
 * (SHUTDOWN_DRAIN_MS) is 0 here unless set, since no load balancer is in front of a development API.
 */
'use strict';

const { spawn } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const { build } = require('./build');

const ROOT = path.resolve(__dirname, '..');
const MAIN = path.join(ROOT, 'dist/apps/api/apps/api/src/main.js');
const DEBOUNCE_MS = 150;
const KILL_AFTER_MS = 15_000;

let child;
let exited = Promise.resolve();
let stopping = false;

const say = (message) => process.stderr.write(`[dev] ${message}\n`);

function start() {
  child = spawn(process.execPath, ['--enable-source-maps', MAIN, ...process.argv.slice(2)], {
    cwd: ROOT,
    stdio: 'inherit',
    env: { SHUTDOWN_DRAIN_MS: '0', ...process.env },
  });
  const current = child;
  exited = new Promise((resolve) =>
    current.once('exit', (code, signal) => {
      if (child === current) child = undefined;
      if (!stopping && !current.restarting) say(`API exited (${signal ?? `code ${code}`}); waiting for a change`);
      resolve();
    }),
  );
}

async function stop() {
  const current = child;
  if (!current) return exited;
  current.restarting = true;
  current.kill('SIGTERM');
  const force = setTimeout(() => current.kill('SIGKILL'), KILL_AFTER_MS);
  await exited;
  clearTimeout(force);
}

let timer;
let running = Promise.resolve();
function onChange(file) {
  if (!file || !/\.ts$|tsconfig\.json$/.test(file) || file.endsWith('.spec.ts')) return;
  clearTimeout(timer);
  timer = setTimeout(() => {
    running = running.then(rebuildAndRestart);
  }, DEBOUNCE_MS);
}

async function rebuildAndRestart() {
  if (stopping) return;
  let result;
  try {
    result = await build();
  } catch (error) {
    say(`build failed, the API keeps running the previous build: ${error.message}`);
    return;
  }
  if (result.changed.length === 0 && result.removed.length === 0 && child) return;
  say('restarting the API');
  await stop();
  if (!stopping) start();
}

async function main() {
  await build();
  start();
  for (const dir of ['apps', 'libs']) {
    fs.watch(path.join(ROOT, dir), { recursive: true }, (_event, file) => onChange(file && String(file)));
  }
  fs.watch(path.join(ROOT, 'tsconfig.json'), () => onChange('tsconfig.json'));
  say('watching apps/ and libs/: a saved change rebuilds and restarts the API (Ctrl-C to stop)');
  const quit = async () => {
    if (stopping) return;
    stopping = true;
    await stop();
    process.exit(0);
  };
  process.on('SIGINT', () => void quit());
  process.on('SIGTERM', () => void quit());
}

main().catch((error) => {
  say(`failed: ${error.message}`);
  process.exit(1);
});
