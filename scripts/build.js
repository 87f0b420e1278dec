#!/usr/bin/env node
/*
 * The build of the API and the CLI: every TypeScript source under apps/ and libs/ (specs and declaration files
 * aside) transpiled by SWC, one file at a time, with the same options the test suite runs the code with
 * (jest.config.js) plus the tsconfig path aliases rewritten to relative paths.
 *
 * Incremental: dist/.build-state.json records each source's size and mtime; only sources that changed are
 * transpiled again, outputs of deleted sources are removed, and with nothing changed the build only stats the
 * sources (well under a second). A change of this script, nest-cli.json, tsconfig.json, package-lock.json or the
 * Node major rebuilds everything. `--clean` empties dist/ and rebuilds everything.
 *
 * Types are not checked here (SWC only strips them): `npm run typecheck` does that, and CI runs it.
 *
 * Output layout (what `npm start`, `npm run cli`, the Docker image, tests and benchmarks run):
 *   dist/apps/api/<path of the source>.js   e.g. dist/apps/api/apps/api/src/main.js
 *   dist/apps/cli/<path of the source>.js   e.g. dist/apps/cli/apps/cli/src/main.js
 */
'use strict';

const { createHash } = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');

const ROOT = path.resolve(__dirname, '..');
const DIST = path.join(ROOT, 'dist');
const STATE_FILE = path.join(DIST, '.build-state.json');
/**
 * The monorepo's projects come from nest-cli.json: each application gets its own output folder, and the sources
 * of every project (applications and the libraries they import) are built into each. libs/client is no Nest
 * project: it is a package for client apps, type-checked and tested, never part of the server's build.
 */
const PROJECTS = Object.values(readJsonWithComments(path.join(ROOT, 'nest-cli.json')).projects);
const TARGETS = PROJECTS.filter((p) => p.type === 'application').map((p) =>
  path.join(DIST, 'apps', path.basename(p.root)),
);
const SOURCE_ROOTS = PROJECTS.map((p) => p.sourceRoot);

/** The path aliases of tsconfig.json, so that SWC rewrites `@lib/config` into a relative require. */
function swcOptions() {
  const { compilerOptions } = readJsonWithComments(path.join(ROOT, 'tsconfig.json'));
  return {
    sourceMaps: true,
    jsc: {
      parser: { syntax: 'typescript', decorators: true },
      transform: { legacyDecorator: true, decoratorMetadata: true },
      target: 'es2022',
      baseUrl: ROOT,
      paths: compilerOptions.paths,
    },
    module: { type: 'commonjs' },
  };
}

function readJsonWithComments(file) {
  const text = fs.readFileSync(file, 'utf8').replace(/^\s*\/\/.*$/gm, '');
  return JSON.parse(text);
}

/** What, when it changes, invalidates every output. */
function buildKey() {
  const hash = createHash('sha256');
  for (const file of [__filename, 'nest-cli.json', 'tsconfig.json', 'package-lock.json']) {
    const full = path.resolve(ROOT, file);
    hash.update(fs.existsSync(full) ? fs.readFileSync(full) : '');
  }
  hash.update(process.versions.node.split('.')[0]);
  return hash.digest('hex');
}

function sources() {
  const found = [];
  const walk = (dir) => {
    for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
      const full = path.join(dir, entry.name);
      if (entry.isDirectory()) {
        if (entry.name !== 'node_modules') walk(full);
      } else if (entry.name.endsWith('.ts') && !entry.name.endsWith('.d.ts') && !entry.name.endsWith('.spec.ts')) {
        found.push(path.relative(ROOT, full));
      }
    }
  };
  for (const root of SOURCE_ROOTS) walk(path.join(ROOT, root));
  return found.sort();
}

function readState() {
  try {
    return JSON.parse(fs.readFileSync(STATE_FILE, 'utf8'));
  } catch {
    return { key: '', files: {} };
  }
}

/** A process running dist/ while another one builds never loads a half-written file. */
function writeAtomically(file, content) {
  const temporary = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(temporary, content);
  fs.renameSync(temporary, file);
}

const outputsOf = (rel) => {
  const js = rel.replace(/\.ts$/, '.js');
  return TARGETS.flatMap((target) => [path.join(target, js), path.join(target, `${js}.map`)]);
};

async function build({ clean = false, quiet = false } = {}) {
  const started = Date.now();
  const key = buildKey();
  if (clean) for (const target of TARGETS) fs.rmSync(target, { recursive: true, force: true });
  const previous = clean ? { key: '', files: {} } : readState();
  const full = previous.key !== key;
  const files = {};
  const changed = [];
  for (const rel of sources()) {
    const stat = fs.statSync(path.join(ROOT, rel));
    const signature = `${stat.size}:${stat.mtimeMs}`;
    files[rel] = signature;
    const fresh = !full && previous.files[rel] === signature && outputsOf(rel).every((o) => fs.existsSync(o));
    if (!fresh) changed.push(rel);
  }
  const removed = Object.keys(previous.files).filter((rel) => !(rel in files));
  for (const rel of removed) for (const out of outputsOf(rel)) fs.rmSync(out, { force: true });

  if (changed.length > 0) {
    const swc = require('@swc/core');
    const options = swcOptions();
    await Promise.all(
      changed.map(async (rel) => {
        const source = path.join(ROOT, rel);
        const { code, map } = await swc.transformFile(source, { ...options, filename: source });
        const js = rel.replace(/\.ts$/, '.js');
        for (const target of TARGETS) {
          const out = path.join(target, js);
          fs.mkdirSync(path.dirname(out), { recursive: true });
          const mapped = JSON.parse(map);
          mapped.sources = [path.relative(path.dirname(out), source)];
          mapped.file = path.basename(out);
          writeAtomically(`${out}.map`, JSON.stringify(mapped));
          writeAtomically(out, `${code}\n//# sourceMappingURL=${path.basename(out)}.map\n`);
        }
      }),
    );
  }
  fs.mkdirSync(DIST, { recursive: true });
  writeAtomically(STATE_FILE, JSON.stringify({ key, files }));
  if (!quiet && (changed.length > 0 || removed.length > 0)) {
    const what = full ? 'full build' : 'incremental build';
    process.stderr.write(
      `${what}: ${changed.length} file(s) compiled, ${removed.length} removed in ${Date.now() - started} ms\n`,
    );
  }
  return { changed, removed };
}

module.exports = { build };

if (require.main === module) {
  build({ clean: process.argv.includes('--clean') }).catch((error) => {
    process.stderr.write(`build failed: ${error.message}\n`);
    process.exit(1);
  });
}
