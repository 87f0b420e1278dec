import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { REPLY_EVENT_NAMES } from './streaming';

const root = resolve(__dirname, '../../..');

describe('the typed client', () => {
  it('schema.d.ts is what openapi-typescript generates from openapi.json (run `npm run client:generate`)', () => {
    // The CLIs as `npm run client:generate` runs them (both load ESM internally, which Jest's CommonJS cannot).
    const run = (cli: string, args: string[], input?: string) =>
      execFileSync(process.execPath, [resolve(root, 'node_modules', cli), ...args], {
        cwd: root,
        encoding: 'utf8',
        input,
        stdio: ['pipe', 'pipe', 'ignore'],
        maxBuffer: 64 * 1024 * 1024,
      });
    const file = resolve(__dirname, 'schema.d.ts');
    const generated = run('openapi-typescript/bin/cli.js', ['openapi.json']);
    const formatted = run('prettier/bin/prettier.cjs', ['--stdin-filepath', file], generated);
    expect(readFileSync(file, 'utf8')).toBe(formatted);
  });

  it('streams the events openapi.json lists for every reply stream (x-sse-events)', () => {
    const doc = JSON.parse(readFileSync(resolve(root, 'openapi.json'), 'utf8')) as {
      paths: Record<
        string,
        Record<string, { responses: Record<string, { content?: Record<string, Record<string, object>> }> }>
      >;
    };
    const streams = Object.values(doc.paths)
      .flatMap((methods) => Object.values(methods))
      .flatMap((op) => Object.values(op.responses))
      .map((response) => response.content?.['text/event-stream']?.['x-sse-events'])
      .filter((events): events is object => events !== undefined);
    expect(streams.length).toBeGreaterThan(0);
    for (const events of streams) expect(Object.keys(events).sort()).toEqual([...REPLY_EVENT_NAMES].sort());
  });
});
