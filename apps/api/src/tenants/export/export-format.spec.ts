import { DomainError } from '@lib/observability';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { EXPORT_FORMAT, migrateItem, readExport } from './export-format';

const header = {
  format: EXPORT_FORMAT,
  formatVersion: 1,
  schemaVersion: 3,
  tenant: { id: '01J9Z8Q3M5XK6B2N4P7R8S9T0V', slug: 'acme', name: 'Acme', status: 'suspended', settings: {} },
  exportedAt: '2026-12-08T00:00:00.000Z',
  consistency: 'suspended',
};
const chat = { pk: { S: 'CHAT#1' }, sk: { S: 'CHAT' }, title: { S: 'Hi' } };
const message = { pk: { S: 'CHAT#1' }, sk: { S: 'MSG#1' }, content: { S: 'hello' }, tokens: { N: '3' } };

/** A file as the format says: header, items, a trailer computed here (an independent reading of the spec). */
function file(lines: object[], trailer?: object): string[] {
  const text = lines.map((l) => JSON.stringify(l));
  const hash = createHash('sha256');
  for (const l of text) hash.update(`${l}\n`);
  const computed = {
    trailer: true,
    items: lines.length - 1,
    counts: { chat: 1, message: 1 },
    sha256: hash.digest('hex'),
  };
  return [...text, JSON.stringify({ ...computed, ...trailer })];
}

describe('export format', () => {
  let dir: string;
  beforeAll(() => (dir = mkdtempSync(join(tmpdir(), 'export-format-'))));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  async function read(lines: string[], name = 'f.gz') {
    const path = join(dir, name);
    writeFileSync(path, gzipSync(`${lines.join('\n')}\n`));
    return readExport(path);
  }

  async function refusal(lines: string[]): Promise<string> {
    const error = await read(lines).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(DomainError);
    return (error as DomainError).message;
  }

  it('reads a well-formed file: its header and trailer', async () => {
    const { header: h, trailer } = await read(file([header, chat, message]));
    expect(h.tenant.slug).toBe('acme');
    expect(trailer).toMatchObject({ items: 2, counts: { chat: 1, message: 1 } });
  });

  it('refuses what is not a complete, unaltered export of a version it reads', async () => {
    const ok = file([header, chat, message]);
    expect(await refusal(ok.slice(0, -1))).toMatch(/no trailer/);
    expect(await refusal([...ok, JSON.stringify(chat)])).toMatch(/after the trailer/);
    expect(await refusal([ok[0], ok[1].replace('Hi', 'Ho'), ...ok.slice(2)])).toMatch(/checksum mismatch/);
    expect(await refusal([ok[0].replace('"acme"', '"evil"'), ...ok.slice(1)])).toMatch(/checksum mismatch/);
    expect(await refusal(file([header, chat, message], { counts: { chat: 2 } }))).toMatch(/counts 2 chat/);
    expect(await refusal(file([{ ...header, schemaVersion: 4 }, chat, message]))).toMatch(/newer than/);
    expect(await refusal(file([{ ...header, formatVersion: 2 }, chat, message]))).toMatch(/format version 2/);
    const session = { pk: { S: 'USER#1' }, sk: { S: 'SESSION#1' } };
    expect(await refusal(file([header, chat, session]))).toMatch(/never carries/);
    expect(await refusal(file([header, chat, { pk: 'CHAT#1', sk: 'MSG#2' }]))).toMatch(/not an item/);
  });

  it('migrates items of older schema versions forward (version 3 dropped gsi2)', () => {
    const old = { ...chat, gsi2pk: { S: 'CHATS' }, gsi2sk: { S: 'x' } };
    expect(migrateItem(old, 2)).toEqual(chat);
    expect(migrateItem(old, 3)).toEqual(old);
  });
});
