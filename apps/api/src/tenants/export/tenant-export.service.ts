import { Injectable } from '@nestjs/common';
import { DynamoClients, type TenantAttributes } from '@lib/dynamo';
import { DomainError } from '@lib/observability';
import { exportKindOf, type RawItem, TenantTable } from '@lib/tenancy';
import { createWriteStream } from 'node:fs';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import { TenantsService } from '../tenants.service';
import {
  EXPORT_FORMAT,
  EXPORT_FORMAT_VERSION,
  type ExportConsistency,
  ExportDigest,
  type ExportHeader,
  type ExportTrailer,
} from './export-format';

/** Parallel Scan segments of an export: enough to keep DynamoDB busy, each holding at most two pages in memory. */
const SEGMENTS = 8;
/**
 * gzip level 1: on chat text it takes about a third of the CPU of the default level 6 for a
 * file about 6 % larger, and the export's CPU is spent beside the Scan it must keep up with.
 */
const GZIP = { level: 1 };

export interface ExportProgress {
  items: number;
}

/**
 * A tenant's export (docs/export-import.md): gzipped NDJSON, a header, one line per item of its table (sessions
 * and transient items left out, expired items too), a trailer with counts and a sha256. Streamed from a parallel
 * Scan: memory holds a few pages whatever the tenant's size, and a slow reader (file, HTTP client) slows the Scan.
 */
@Injectable()
export class TenantExportService {
  constructor(
    private readonly clients: DynamoClients,
    private readonly tenants: TenantsService,
  ) {}

  /**
   * The tenant, if it can be exported with this consistency: a suspended tenant (nothing writes to it), or an
   * active one when the caller accepts skew. Other statuses have no complete table to export.
   */
  async exportable(
    id: string,
    allowSkew: boolean,
  ): Promise<{ tenant: TenantAttributes; consistency: ExportConsistency }> {
    const tenant = await this.tenants.get(id);
    if (tenant.status === 'suspended') return { tenant, consistency: 'suspended' };
    if (tenant.status === 'active') {
      if (allowSkew) return { tenant, consistency: 'skew' };
      throw new DomainError(
        'conflict',
        'the tenant is active: suspend it for a consistent export, or allow skew (docs/export-import.md)',
      );
    }
    throw new DomainError('conflict', `a ${tenant.status} tenant cannot be exported`);
  }

  /** The export's lines (each ending in `\n`), a page of items per chunk. */
  async *lines(
    tenant: TenantAttributes,
    consistency: ExportConsistency,
    onProgress?: (p: ExportProgress) => void,
  ): AsyncGenerator<string> {
    const header: ExportHeader = {
      format: EXPORT_FORMAT,
      formatVersion: EXPORT_FORMAT_VERSION,
      schemaVersion: tenant.schemaVersion,
      tenant: {
        id: tenant.id,
        slug: tenant.slug,
        name: tenant.name,
        status: tenant.status,
        settings: tenant.settings,
        createdAt: tenant.createdAt,
      },
      exportedAt: new Date().toISOString(),
      consistency,
    };
    const digest = new ExportDigest();
    const headerLine = JSON.stringify(header);
    digest.header(headerLine);
    yield `${headerLine}\n`;
    const table = new TenantTable(this.clients, tenant);
    const now = Math.floor(Date.now() / 1000);
    const segments = Array.from({ length: SEGMENTS }, (_, s) => table.scan(s, SEGMENTS));
    for await (const page of merge(segments)) {
      let chunk = '';
      for (const item of page) {
        const kind = exportKindOf(String(item.pk?.S), String(item.sk?.S));
        if (kind === null || expired(item, now)) continue;
        digest.count(kind);
        chunk += `${JSON.stringify(item)}\n`;
      }
      digest.lines(chunk);
      onProgress?.({ items: digest.items });
      if (chunk) yield chunk;
    }
    const trailer: ExportTrailer = digest.trailer();
    yield `${JSON.stringify(trailer)}\n`;
  }

  /** The gzipped export as a stream (the HTTP route). */
  stream(tenant: TenantAttributes, consistency: ExportConsistency): Readable {
    const gzip = createGzip(GZIP);
    pipeline(Readable.from(this.lines(tenant, consistency), { objectMode: false }), gzip).catch((error: unknown) =>
      gzip.destroy(error as Error),
    );
    return gzip;
  }

  /** Writes the gzipped export to `path`; its trailer. */
  async toFile(
    tenant: TenantAttributes,
    consistency: ExportConsistency,
    path: string,
    onProgress?: (p: ExportProgress) => void,
  ): Promise<ExportTrailer> {
    let trailer: ExportTrailer | undefined;
    const lines = this.lines(tenant, consistency, onProgress);
    async function* keepTrailer() {
      let last = '';
      for await (const chunk of lines) {
        last = chunk;
        yield chunk;
      }
      trailer = JSON.parse(last) as ExportTrailer;
    }
    await pipeline(Readable.from(keepTrailer(), { objectMode: false }), createGzip(GZIP), createWriteStream(path));
    return trailer as ExportTrailer;
  }
}

/** Whether DynamoDB's TTL has passed on the item (TTL deletes late; an export never carries an expired item). */
function expired(item: RawItem, now: number): boolean {
  const at = item.expiresAt?.N;
  return at !== undefined && Number(at) <= now;
}

/**
 * The values of several generators as each produces them. Each generator has at most one value requested ahead,
 * so memory holds a value per generator whatever the consumer's pace; stopping early stops them all.
 */
async function* merge<T>(sources: Array<AsyncGenerator<T>>): AsyncGenerator<T> {
  type Next = { i: number; r: IteratorResult<T> };
  const pending = new Map<number, Promise<Next>>();
  const ask = (i: number) => {
    const next = sources[i].next().then((r) => ({ i, r }));
    next.catch(() => undefined);
    pending.set(i, next);
  };
  sources.forEach((_, i) => ask(i));
  try {
    while (pending.size > 0) {
      const { i, r } = await Promise.race(pending.values());
      if (r.done) {
        pending.delete(i);
        continue;
      }
      ask(i);
      yield r.value;
    }
  } finally {
    for (const source of sources) void source.return(undefined).catch(() => undefined);
  }
}
