import { Injectable, Logger, type OnApplicationBootstrap, type OnModuleDestroy } from '@nestjs/common';
import { AppConfig } from '@lib/config';
import { type ChangeKind, type ChangeRecordAttributes, ControlKeys, DynamoClients } from '@lib/dynamo';
import { MetricsService } from '@lib/observability';
import { Counter, Gauge } from 'prom-client';
import { decodeTime, encodeTime, ulid } from 'ulid';
import { ControlTableService } from './control-table.service';
import type { TransactItem } from './tenant-repository.base';

/** What a change record names (the kinds and the record's schema: the control table's `changes` model). */
export type { ChangeKind };

export interface Change {
  kind: ChangeKind;
  /** The tenant, for tenant, user and roles changes. */
  tenantId?: string;
  /** The user or operator. */
  id?: string;
}

type ChangeHandler = (change: Change) => void;

/** Change records are kept a day (TTL); a reader needs at most the overlap window of them. */
const RECORD_TTL_SECONDS = 86_400;
/** The smallest ULID of a millisecond: its time and a zero random part. */
const firstUlidAt = (ms: number) => `${encodeTime(ms, 10)}0000000000000000`;
const hourOf = (ms: number) => new Date(ms).toISOString().slice(0, 13);
const HOUR_MS = 3_600_000;
const floorHour = (ms: number) => ms - (ms % HOUR_MS);
/** Records live a day (TTL); a gap longer than that, less an hour of margin, may have lost some. */
const UNCOVERABLE_GAP_MS = RECORD_TTL_SECONDS * 1000 - HOUR_MS;

/**
 * The change feed: every write that changes who may do what also writes a small record here, in the same
 * transaction (`entry()`), into the control table's partition of the writer's current hour. Every instance
 * polls it (one Query a second, whatever the number of tenants) and drops the cache entries it names, so caches
 * live until changed instead of expiring every few seconds.
 *
 * Nothing is missed: each poll re-reads an overlap window before its previous start (writers' clocks differ, a
 * transaction commits a little after its record's time), and records already applied are skipped by id. When the
 * feed cannot be read, `trusts()` turns false for entries loaded before the revocation bound, so that callers
 * re-validate them (a DynamoDB outage becomes the 503s it causes anyway, never a revoked caller served).
 * A new instance cannot miss a change made before it started: its caches start empty and every entry is loaded
 * with a consistent read after that.
 */
@Injectable()
export class ChangeFeed implements OnApplicationBootstrap, OnModuleDestroy {
  private readonly logger = new Logger(ChangeFeed.name);
  private readonly handlers = new Map<ChangeKind, ChangeHandler[]>();
  /** Record ids applied within the overlap window (by their time), so a re-read applies nothing twice. */
  private readonly applied = new Map<string, number>();
  private timer: NodeJS.Timeout | undefined;
  /** The background poll in flight, if any. */
  private ticking: Promise<void> | undefined;
  private stopped = false;
  /** Start of the last poll that succeeded: every change committed before it has been applied. */
  private coveredUntil = Number.NEGATIVE_INFINITY;
  /** Entries loaded before this are never trusted again (a feed gap that could not be covered). */
  private untrustedBefore = Number.NEGATIVE_INFINITY;
  private lastPollStart: number | undefined;
  private failingSince: number | undefined;
  private readonly polls: Counter<'outcome'>;
  private readonly queries: Counter;
  private readonly applies: Counter<'kind'>;
  private readonly lag: Gauge;

  /**
   * This instance's clock (epoch ms): times and places the records it writes, and times its polls. Replaceable,
   * to test writers whose clocks differ and long pauses.
   */
  clock: () => number = Date.now;

  constructor(
    private readonly config: AppConfig,
    private readonly clients: DynamoClients,
    private readonly control: ControlTableService,
    metrics: MetricsService,
  ) {
    this.polls = new Counter({
      name: 'change_feed_polls_total',
      help: 'Change-feed polls (one DynamoDB Query each, more at an hour boundary) by outcome',
      labelNames: ['outcome'] as const,
      registers: [metrics.registry],
    });
    this.queries = new Counter({
      name: 'change_feed_queries_total',
      help: 'DynamoDB Queries made by the change feed (included in dynamodb_request_duration_seconds)',
      registers: [metrics.registry],
    });
    this.applies = new Counter({
      name: 'change_feed_records_applied_total',
      help: 'Change records applied to the caches, by kind',
      labelNames: ['kind'] as const,
      registers: [metrics.registry],
    });
    this.lag = new Gauge({
      name: 'change_feed_lag_seconds',
      help: 'Age of the start of the last successful change-feed poll',
      registers: [metrics.registry],
      collect: () => this.lag.set(Number.isFinite(this.coveredUntil) ? (this.clock() - this.coveredUntil) / 1000 : -1),
    });
  }

  /** Calls `handler` for every change of `kind` written by any instance (this one included). */
  subscribe(kind: ChangeKind, handler: ChangeHandler): void {
    this.handlers.set(kind, [...(this.handlers.get(kind) ?? []), handler]);
  }

  /**
   * The record of `change`, to be written in the same transaction as the change itself: control-table
   * transactions write it through the `changes` model (`control.models.changes.transaction.create(record)`).
   */
  record(change: Change): ChangeRecordAttributes {
    const now = this.clock();
    const id = ulid(now);
    return {
      ...ControlKeys.change(hourOf(now), id),
      kind: change.kind,
      ...(change.tenantId ? { tenantId: change.tenantId } : {}),
      ...(change.id ? { id: change.id } : {}),
      expiresAt: Math.floor(now / 1000) + RECORD_TTL_SECONDS,
    };
  }

  /**
   * The record of `change` as a raw Put, for transactions on a tenant table (`TenantTable.transact`, on the
   * document client): dynamoose cannot join them. The item is `record()`'s, which the model's schema accepts
   * (libs/dynamo control-table.spec.ts).
   */
  entry(change: Change): TransactItem {
    return { Put: { TableName: this.control.tableName, Item: this.record(change) } };
  }

  /**
   * Whether a cache entry whose load started at `loadedAt` may be served without re-reading it: either it is
   * younger than the revocation bound, or the feed has been read up to within the bound.
   */
  trusts(loadedAt: number): boolean {
    if (loadedAt < this.untrustedBefore) return false;
    const horizon = this.clock() - this.config.changeFeed.revocationBoundMs;
    return loadedAt >= horizon || this.coveredUntil >= horizon;
  }

  onApplicationBootstrap(): void {
    if (!this.config.changeFeed.follow) return;
    this.lastPollStart = this.clock();
    this.schedule(0);
  }

  /** Stops polling; a poll in flight finishes first, so that nothing is applied after this resolves. */
  async onModuleDestroy(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    await this.ticking;
  }

  /**
   * One poll: reads every record since the previous successful poll's start minus the overlap, hour partition by
   * hour partition (all of them, after a long gap), and applies the new ones. A gap longer than records are kept
   * cannot be covered: every entry loaded before it is then distrusted (re-read before use).
   */
  async poll(): Promise<void> {
    const started = this.clock();
    const { overlapMs } = this.config.changeFeed;
    let from = (this.lastPollStart ?? started) - overlapMs;
    if (started - from > UNCOVERABLE_GAP_MS) {
      this.logger.warn(`change feed not read for ${Math.round((started - from) / 60_000)} min: caches re-read`);
      this.untrustedBefore = started;
      from = started - overlapMs;
    }
    // A writer's clock may be ahead: its records can sit in the next hour's partition already.
    for (let hour = floorHour(from); hour <= started + overlapMs; hour += HOUR_MS) {
      await this.readHour(hourOf(hour), firstUlidAt(from));
    }
    for (const [id, at] of this.applied) if (at < from) this.applied.delete(id);
    this.lastPollStart = started;
    this.coveredUntil = started;
  }

  /**
   * Reads one hour partition with the `reads` client, not the `changes` model's query: it runs every second on
   * every instance, and one poll of a partition holding 3 records cost 1.0-1.6 ms of client CPU this way against
   * 4.2-5.4 ms through dynamoose (1000 polls each against DynamoDB Local). The records are the model's
   * (`record()`; libs/dynamo control-table.spec.ts checks them against its schema).
   */
  private async readHour(hour: string, after: string): Promise<void> {
    let start: Record<string, unknown> | undefined;
    do {
      this.queries.inc();
      const page = await this.clients.query({
        TableName: this.control.tableName,
        KeyConditionExpression: 'pk = :pk AND sk > :after',
        ExpressionAttributeValues: { ':pk': ControlKeys.change(hour, '').pk, ':after': after },
        ConsistentRead: true,
        ExclusiveStartKey: start,
      });
      for (const item of page.items) this.apply(item);
      start = page.lastKey;
    } while (start);
  }

  private apply(item: Record<string, unknown>): void {
    const record = item as unknown as ChangeRecordAttributes;
    const id = record.sk;
    if (this.applied.has(id)) return;
    this.applied.set(id, decodeTime(id));
    const change: Change = { kind: record.kind, tenantId: record.tenantId, id: record.id };
    this.applies.inc({ kind: change.kind });
    for (const handler of this.handlers.get(change.kind) ?? []) {
      try {
        handler(change);
      } catch (error) {
        this.logger.error(`change handler for ${change.kind} failed: ${(error as Error).message}`);
      }
    }
  }

  private schedule(delayMs: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.ticking = this.tick().finally(() => (this.ticking = undefined));
    }, delayMs);
    this.timer.unref();
  }

  private async tick(): Promise<void> {
    try {
      await this.poll();
      this.polls.inc({ outcome: 'ok' });
      if (this.failingSince !== undefined) {
        this.logger.log(`change feed readable again after ${Date.now() - this.failingSince} ms`);
        this.failingSince = undefined;
      }
    } catch (error) {
      this.polls.inc({ outcome: 'error' });
      if (this.failingSince === undefined) {
        this.failingSince = Date.now();
        this.logger.warn(
          `change feed unreadable (${(error as Error).name}): cached entries older than ` +
            `${this.config.changeFeed.revocationBoundMs} ms are re-read before use until it recovers`,
        );
      }
    }
    this.schedule(this.config.changeFeed.pollMs);
  }
}
