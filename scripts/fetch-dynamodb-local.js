#!/usr/bin/env node
'use strict';
// Fetches the official DynamoDB Local (1.25.x) that ships in the `emulator/` folder of the npm package
// amplify-dynamodb-simulator, into <repo>/.cache/dynamodb-local/<version>/ (checksum verified).
//
// Runs as the npm `postinstall` hook, before anything is compiled: plain CommonJS, Node built-ins only.
//   node scripts/fetch-dynamodb-local.js            postinstall mode: skips when SKIP_DYNAMODB_LOCAL_DOWNLOAD=1
//                                                   or NODE_ENV=production; a failure is a warning, exit 0
//   node scripts/fetch-dynamodb-local.js --strict   used by the launcher: never skips, a failure exits 1
// As a module: `await ensureDynamoDbLocal()` resolves to the directory, or throws.

const { spawn } = require('node:child_process');
const crypto = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');

const PACKAGE_NAME = 'amplify-dynamodb-simulator';
const PACKAGE_VERSION = '2.9.30';
// Of the tarball `npm pack amplify-dynamodb-simulator@2.9.30` downloads (56 573 501 bytes, DynamoDB Local 1.25.1).
const TARBALL_SHA512 =
  'c5379e44bbf311fab2779961ddb1f8734907bd21c79a6843e590ec1c5280439836665e89aa515dbad6908422c7cf1129e91cb5a3b4c1ea7888a17b9002749ec1';
const TARBALL_INTEGRITY =
  'sha512-xTeeRLvzEfqyd5lh3bH4c0kHvSHHmmhD5ZDsHFKAQ5g2Zl6JqlFdutaQhCLHzxEp6Ry1o7TB6niIoXuQAnSewQ==';

const REPO_ROOT = path.resolve(__dirname, '..');
const CACHE_ROOT = path.join(REPO_ROOT, '.cache', 'dynamodb-local');
const DYNAMODB_LOCAL_DIR = path.join(CACHE_ROOT, PACKAGE_VERSION);
const JAR = 'DynamoDBLocal.jar';
const MARKER = '.verified';

function log(message) {
  console.log(`[dynamodb-local] ${message}`);
}

function isReady(dir) {
  try {
    return (
      fs.readFileSync(path.join(dir, MARKER), 'utf8').trim() === TARBALL_SHA512 &&
      fs.statSync(path.join(dir, JAR)).isFile()
    );
  } catch {
    return false;
  }
}

/** Runs a command, resolves to its stdout; rejects with its exit code and the head of its stderr (+ .stdout). */
function run(command, args, options = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], ...options });
    const stdout = [];
    const stderr = [];
    child.stdout.on('data', (chunk) => stdout.push(chunk));
    child.stderr.on('data', (chunk) => stderr.push(chunk));
    child.on('error', (err) => reject(new Error(`cannot run ${command}: ${err.message}`)));
    child.on('close', (code, signal) => {
      if (code === 0) return resolve(Buffer.concat(stdout).toString('utf8'));
      const head = Buffer.concat(stderr).toString('utf8').trim().split('\n').slice(0, 3).join(' | ');
      const err = new Error(`${path.basename(command)} failed (${signal || `exit ${code}`}): ${head}`);
      err.stdout = Buffer.concat(stdout).toString('utf8');
      reject(err);
    });
  });
}

/** npm itself when we run under it (postinstall), else the `npm` on PATH. */
function npmCommand() {
  const execPath = process.env.npm_execpath;
  if (execPath && /npm-cli\.c?js$/.test(execPath)) return { command: process.execPath, prefix: [execPath] };
  if (process.platform === 'win32') return { command: 'npm.cmd', prefix: [], shell: true };
  return { command: 'npm', prefix: [] };
}

async function packTarball(destination) {
  const npm = npmCommand();
  const spec = `${PACKAGE_NAME}@${PACKAGE_VERSION}`;
  const args = [...npm.prefix, 'pack', spec, '--json', '--ignore-scripts', '--pack-destination', destination];
  const stdout = await run(npm.command, args, { cwd: REPO_ROOT, shell: npm.shell }).catch((err) => {
    throw new Error(`npm pack ${spec} failed: ${npmErrorSummary(err.stdout) || err.message}`);
  });
  const [result] = JSON.parse(stdout.slice(stdout.indexOf('[')));
  if (!result || typeof result.filename !== 'string') throw new Error(`unexpected npm pack output: ${stdout}`);
  if (result.integrity !== TARBALL_INTEGRITY) {
    throw new Error(`npm reports integrity ${result.integrity} for ${spec}, expected ${TARBALL_INTEGRITY}`);
  }
  return path.join(destination, path.basename(result.filename));
}

/** With --json, npm reports its error as JSON on stdout: { error: { code, summary } }. */
function npmErrorSummary(stdout) {
  try {
    const { error } = JSON.parse(stdout.slice(stdout.indexOf('{')));
    return error && error.summary ? `${error.code}: ${error.summary}` : undefined;
  } catch {
    return undefined;
  }
}

function sha512Of(file) {
  return new Promise((resolve, reject) => {
    const hash = crypto.createHash('sha512');
    fs.createReadStream(file)
      .on('error', reject)
      .on('data', (chunk) => hash.update(chunk))
      .on('end', () => resolve(hash.digest('hex')));
  });
}

/** Moves the finished staging dir into place; a concurrent run that got there first wins. */
function publish(staging) {
  try {
    fs.renameSync(staging, DYNAMODB_LOCAL_DIR);
  } catch (err) {
    if (isReady(DYNAMODB_LOCAL_DIR)) return;
    if (err.code !== 'EEXIST' && err.code !== 'ENOTEMPTY' && err.code !== 'EPERM') throw err;
    fs.rmSync(DYNAMODB_LOCAL_DIR, { recursive: true, force: true }); // an incomplete copy: no marker
    fs.renameSync(staging, DYNAMODB_LOCAL_DIR);
  }
}

/** Resolves to the DynamoDB Local directory (DynamoDBLocal.jar, DynamoDBLocal_lib/), downloading it if needed. */
async function ensureDynamoDbLocal() {
  if (isReady(DYNAMODB_LOCAL_DIR)) return DYNAMODB_LOCAL_DIR;

  fs.mkdirSync(CACHE_ROOT, { recursive: true });
  // Same file system as the final directory, so the rename below is atomic.
  const work = fs.mkdtempSync(path.join(CACHE_ROOT, `.tmp-${process.pid}-`));
  try {
    log(`downloading ${PACKAGE_NAME}@${PACKAGE_VERSION} with npm pack (about 56 MB)...`);
    const started = Date.now();
    const tarball = await packTarball(work);
    const sha512 = await sha512Of(tarball);
    if (sha512 !== TARBALL_SHA512) throw new Error(`sha512 mismatch for ${tarball}: got ${sha512}`);
    log(`downloaded and verified sha512 in ${((Date.now() - started) / 1000).toFixed(1)} s; extracting emulator/...`);

    const staging = path.join(work, 'dynamodb-local');
    fs.mkdirSync(staging);
    await run('tar', ['-xzf', tarball, '-C', staging, '--no-same-owner', '--strip-components=2', 'package/emulator']);
    if (!fs.statSync(path.join(staging, JAR)).isFile()) throw new Error(`${JAR} missing from the tarball`);
    fs.writeFileSync(path.join(staging, MARKER), `${TARBALL_SHA512}\n`); // last: marks a complete copy
    publish(staging);
    log(`ready in ${path.relative(REPO_ROOT, DYNAMODB_LOCAL_DIR)}`);
    return DYNAMODB_LOCAL_DIR;
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
}

async function main() {
  const strict = process.argv.includes('--strict');
  if (isReady(DYNAMODB_LOCAL_DIR)) {
    log(`already present in ${path.relative(REPO_ROOT, DYNAMODB_LOCAL_DIR)}`);
    return;
  }
  if (!strict && process.env.SKIP_DYNAMODB_LOCAL_DOWNLOAD === '1') {
    log('skipped: SKIP_DYNAMODB_LOCAL_DOWNLOAD=1');
    return;
  }
  if (!strict && process.env.NODE_ENV === 'production') {
    log('skipped: NODE_ENV=production (production uses Amazon DynamoDB)');
    return;
  }
  try {
    await ensureDynamoDbLocal();
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    if (strict) {
      log(`ERROR: could not fetch DynamoDB Local: ${message}`);
      process.exitCode = 1;
      return;
    }
    log(`WARNING: could not fetch DynamoDB Local (${message}).`);
    log('WARNING: install continues; it is fetched again when DynamoDB Local is first started (npm start, npm test).');
  }
}

module.exports = { ensureDynamoDbLocal, DYNAMODB_LOCAL_DIR };

if (require.main === module) {
  void main();
}
