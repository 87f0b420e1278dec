import type { TenantSettings, TenantStatus } from '@lib/dynamo';
import { DomainError } from '@lib/observability';
import { exportKindOf, type ExportKind, type RawItem } from '@lib/tenancy';
import { createHash, type Hash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import { StringDecoder } from 'node:string_decoder';
import { createGunzip } from 'node:zlib';
import { LATEST_SCHEMA_VERSION } from '../tenant-migrations';

/** The first line's `format`: what this file is (docs/export-import.md). */
export const EXPORT_FORMAT = 'chat-platform-tenant-export';
/** The layout of the file (header, item lines, trailer); a reader refuses a version it does not know. */
export const EXPORT_FORMAT_VERSION = 1;

/** How the items were read: from a suspended tenant (nothing wrote meanwhile), or from an active one (skew). */
export type ExportConsistency = 'suspended' | 'skew';

/** Line 1. */
export interface ExportHeader {
  format: typeof EXPORT_FORMAT;
  formatVersion: number;
  /** The tenant table's schema version the items are in (an import migrates older ones forward). */
  schemaVersion: number;
  tenant: {
    id: string;
    slug: string;
    name: string;
    status: TenantStatus;
    /** As stored: `llm.apiKey` stays sealed, bound to `id` (an import opens it and seals it for its own tenant). */
    settings: TenantSettings;
    createdAt: string;
  };
  exportedAt: string;
  consistency: ExportConsistency;
}

/** The last line. `sha256`: of the header line and every item line, each with its `\n`, in file order. */
export interface ExportTrailer {
  trailer: true;
  items: number;
  counts: Partial<Record<ExportKind, number>>;
  sha256: string;
}

/** One item line: the item in DynamoDB's typed JSON (`{"pk":{"S":"..."}}`), exactly as the table holds it. */
export type ExportItem = RawItem;

/**
 * Forward migrations of exported items, by the schema version they bring items to (tenant-migrations.ts migrates
 * tables; these migrate the items of an export taken at an older version). Version 3 deleted the index gsi2, so
 * the attributes that fed it go.
 */
const ITEM_MIGRATIONS: Record<number, (item: ExportItem) => ExportItem> = {
  3: ({ gsi2pk: _pk, gsi2sk: _sk, ...rest }) => rest,
};

/** `item` (exported at `from`) in the shape of the current schema version. */
export function migrateItem(item: ExportItem, from: number): ExportItem {
  let current = item;
  for (let version = from + 1; version <= LATEST_SCHEMA_VERSION; version++) {
    const step = ITEM_MIGRATIONS[version];
    if (step) current = step(current);
  }
  return current;
}

/** Counts and hashes item lines as they are written or read. */
export class ExportDigest {
  readonly counts: Partial<Record<ExportKind, number>> = {};
  items = 0;
  private readonly hash: Hash = createHash('sha256');

  header(line: string): void {
    this.hash.update(`${line}\n`);
  }

  item(line: string, kind: ExportKind): void {
    this.hash.update(`${line}\n`);
    this.count(kind);
  }

  /** Counts an item whose line is hashed with others (`lines`): one hash update per page rather than per item. */
  count(kind: ExportKind): void {
    this.counts[kind] = (this.counts[kind] ?? 0) + 1;
    this.items += 1;
  }

  /** Hashes consecutive item lines, each with its `\n`. */
  lines(text: string): void {
    this.hash.update(text);
  }

  trailer(): ExportTrailer {
    return { trailer: true, items: this.items, counts: this.counts, sha256: this.hash.digest('hex') };
  }
}

const refused = (why: string) => new DomainError('invalid_input', `export file refused: ${why}`);

/** The lines of a gzipped file, without their `\n`; a damaged or truncated gzip stream is an export refused. */
export async function* fileLines(path: string): AsyncGenerator<string> {
  const gunzip = createGunzip();
  const done = pipeline(createReadStream(path), gunzip);
  done.catch(() => undefined);
  const decoder = new StringDecoder('utf8');
  let rest = '';
  try {
    for await (const chunk of gunzip as AsyncIterable<Buffer>) {
      const text = rest + decoder.write(chunk);
      let start = 0;
      for (let end = text.indexOf('\n'); end >= 0; end = text.indexOf('\n', start)) {
        yield text.slice(start, end);
        start = end + 1;
      }
      rest = text.slice(start);
    }
    await done;
  } catch (error) {
    if (error instanceof DomainError) throw error;
    const code = (error as { code?: string }).code;
    if (code === 'ENOENT') throw new DomainError('not_found', `no file ${path}`);
    throw refused(`not a complete gzip stream (${code ?? (error as Error).name}): truncated or damaged`);
  }
  rest += decoder.end();
  if (rest) yield rest;
}

function parse(line: string, what: string): unknown {
  try {
    return JSON.parse(line);
  } catch {
    throw refused(`${what} is not JSON`);
  }
}

/** The key of an item line, or a refusal. */
export function keyOf(item: unknown, lineNo: number): { pk: string; sk: string } {
  const i = item as Partial<Record<'pk' | 'sk', { S?: unknown }>> | null;
  if (!i || typeof i !== 'object' || typeof i.pk?.S !== 'string' || typeof i.sk?.S !== 'string')
    throw refused(`line ${lineNo} is not an item (pk and sk strings)`);
  return { pk: i.pk.S, sk: i.sk.S };
}

/** The header, or a refusal saying what this build cannot read. */
export function checkHeader(value: unknown): ExportHeader {
  const h = value as Partial<ExportHeader> | null;
  if (!h || typeof h !== 'object' || h.format !== EXPORT_FORMAT)
    throw refused(`line 1 is not a ${EXPORT_FORMAT} header`);
  if (h.formatVersion !== EXPORT_FORMAT_VERSION)
    throw refused(`format version ${String(h.formatVersion)} (this build reads ${EXPORT_FORMAT_VERSION})`);
  const v = h.schemaVersion;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1)
    throw refused(`schema version ${String(v)} is not a version`);
  if (v > LATEST_SCHEMA_VERSION)
    throw refused(`schema version ${v} is newer than this deployment's (${LATEST_SCHEMA_VERSION}): upgrade it first`);
  const t = h.tenant;
  if (!t || typeof t.id !== 'string' || typeof t.slug !== 'string' || typeof t.name !== 'string')
    throw refused('the header names no tenant');
  return h as ExportHeader;
}

/** Each line of a file in order: its header, then its items; the trailer is checked at the end. */
export interface ExportReader {
  onHeader?(header: ExportHeader): void;
  onItem?(item: ExportItem, kind: ExportKind): Promise<void> | void;
}

/**
 * Reads an export file once, streaming: its header (format, versions), every item line (counted and hashed) and
 * its trailer, which must be the last line and agree (item count, counts by kind, sha256). Throws a refusal
 * (`invalid_input`) at the first thing wrong; `reader` sees each line as it is read, so a pass that writes must
 * have been preceded by a pass that only checks.
 */
export async function readExport(
  path: string,
  reader: ExportReader = {},
): Promise<{ header: ExportHeader; trailer: ExportTrailer }> {
  const digest = new ExportDigest();
  let header: ExportHeader | undefined;
  let trailer: ExportTrailer | undefined;
  let lineNo = 0;
  for await (const line of fileLines(path)) {
    lineNo += 1;
    if (trailer) throw refused(`a line after the trailer (line ${lineNo})`);
    const value = parse(line, `line ${lineNo}`);
    if (!header) {
      header = checkHeader(value);
      digest.header(line);
      reader.onHeader?.(header);
      continue;
    }
    if ((value as { trailer?: unknown }).trailer === true) {
      trailer = value as ExportTrailer;
      continue;
    }
    const key = keyOf(value, lineNo);
    const kind = exportKindOf(key.pk, key.sk);
    if (kind === null) throw refused(`line ${lineNo} is an item an export never carries (${key.sk})`);
    digest.item(line, kind);
    await reader.onItem?.(value as ExportItem, kind);
  }
  if (!header) throw refused('empty');
  if (!trailer) throw refused('no trailer: the file is truncated');
  const actual = digest.trailer();
  if (trailer.items !== actual.items)
    throw refused(`the trailer counts ${String(trailer.items)} items, the file has ${actual.items}`);
  if (trailer.sha256 !== actual.sha256) throw refused('checksum mismatch: the file was changed after the export');
  const kinds = new Set([...Object.keys(trailer.counts ?? {}), ...Object.keys(actual.counts)]) as Set<ExportKind>;
  for (const kind of kinds) {
    if ((trailer.counts?.[kind] ?? 0) !== (actual.counts[kind] ?? 0))
      throw refused(
        `the trailer counts ${String(trailer.counts?.[kind] ?? 0)} ${kind} items, the file has ${actual.counts[kind] ?? 0}`,
      );
  }
  return { header, trailer };
}
