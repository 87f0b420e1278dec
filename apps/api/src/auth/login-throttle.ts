import { Injectable, Logger, type OnModuleInit } from '@nestjs/common';
import { DeleteCommand, GetCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import type { AttributeValue } from '@aws-sdk/client-dynamodb';
import { AppConfig } from '@lib/config';
import {
  DynamoClients,
  isConditionalCheckFailed,
  rateLimitTableName,
  rateLimitTableSpec,
  TableManager,
} from '@lib/dynamo';
import { DomainError } from '@lib/observability';
import { LRUCache } from 'lru-cache';

/** A point held in one counter: the counter's key and the end of the window it was taken in (epoch seconds). */
interface Point {
  key: string;
  expire: number;
}

/** What a login attempt holds while its password is checked; see `LoginThrottle.reserve`. */
export interface LoginPermit {
  account: Point;
  address: Point;
}

/** Addresses remembered as blocked for API-key attempts (a few dozen bytes each). */
const BLOCKED_ADDRESSES_MAX = 10_000;
const TOO_MANY_KEY_ATTEMPTS = 'too many failed API key attempts; retry later';

type Outcome = { granted: Point; points: number } | { refusedForSeconds: number };

/** At most this many tries to take a point; more than one only when a window ends or is cleared meanwhile. */
const MAX_TRIES = 5;

/**
 * Login attempts counted per account and per client address, in the shared rate-limit table (one item per
 * counter: `key`, `points`, `expire`, the layout of rate-limiter-flexible's DynamoDB store, whose TTL attribute
 * the table has). The window of a counter starts at its first attempt.
 *
 * An attempt takes a point from both counters BEFORE its password is checked and is refused (429, Retry-After)
 * when either has none left, so under any concurrency and across instances at most the limit's number of
 * passwords are checked per window, per account and per address. A failed attempt keeps its points; a
 * successful one clears the account's counter and gives its address point back, so the address counts failures
 * (plus attempts in flight). Unknown tenant, unknown email, wrong password and disabled user all count alike.
 *
 * Taking a point is one conditional UpdateItem (`ADD points :1` only while the window runs and points remain),
 * which DynamoDB serializes per item: no point is lost to a race and refused attempts write nothing. We do not
 * use rate-limiter-flexible here: its DynamoDB upsert is two UpdateItems (reset the window if it has ended, else
 * add), and when the item is deleted between them (a successful login clearing the account), or the first fails
 * for any other reason, the second's condition `expire > now` fails ("The conditional request failed") and the
 * failure is not counted.
 */
@Injectable()
export class LoginThrottle implements OnModuleInit {
  private readonly logger = new Logger(LoginThrottle.name);
  private tableName!: string;
  /** Addresses whose failed API-key attempts used up the window, until when (epoch ms): refused without a read. */
  private readonly blockedAddresses = new LRUCache<string, number>({ max: BLOCKED_ADDRESSES_MAX });

  constructor(
    private readonly config: AppConfig,
    private readonly clients: DynamoClients,
    private readonly tables: TableManager,
  ) {}

  async onModuleInit(): Promise<void> {
    this.tableName = rateLimitTableName(this.config.dynamo.tablePrefix);
    await this.tables.ensureTable(rateLimitTableSpec(this.tableName));
  }

  /** The account counter of a tenant user (tenant slug + normalized email). */
  static tenantAccount(slug: string, email: string): string {
    return `login-account:${slug}:${email}`;
  }

  /** The account counter of a platform operator (normalized email). */
  static operatorAccount(email: string): string {
    return `login-operator:${email}`;
  }

  /**
   * Takes one point from the account's counter and one from the address's, before the password is checked.
   * Throws `rate_limited` (429) with the longest wait when either has none left, handing back the other's point.
   */
  async reserve(account: string, ip: string): Promise<LoginPermit> {
    const { maxFailuresPerAccount, maxFailuresPerIp } = this.config.loginThrottle;
    const results = await Promise.allSettled([
      this.take(account, maxFailuresPerAccount),
      this.take(`login-ip:${ip}`, maxFailuresPerIp),
    ]);
    const granted = results.flatMap((r) => (r.status === 'fulfilled' && 'granted' in r.value ? [r.value.granted] : []));
    if (granted.length === results.length) return { account: granted[0], address: granted[1] };
    await Promise.all(granted.map((point) => this.giveBack(point)));
    const failed = results.find((r) => r.status === 'rejected');
    if (failed) throw failed.reason;
    const waits = results.map((r) =>
      r.status === 'fulfilled' && 'refusedForSeconds' in r.value ? r.value.refusedForSeconds : 0,
    );
    throw new DomainError('rate_limited', 'too many failed logins; retry later', {
      retryAfterSeconds: Math.max(...waits),
    });
  }

  /**
   * API keys are checked on every request, so their attempts are not reserved ahead like logins' (that would be a
   * write per call): a failed attempt takes a point from the address's key counter afterwards, and once the
   * window's points are used up the address is refused (429) on this instance without its key being looked at,
   * until the window ends. On N instances, at most the limit plus N - 1 failed keys are looked at per window.
   * Throws `rate_limited` while the address is blocked.
   */
  assertKeyAttemptAllowed(ip: string): void {
    const until = this.blockedAddresses.get(ip);
    if (until === undefined) return;
    const seconds = Math.ceil((until - Date.now()) / 1000);
    if (seconds <= 0) {
      this.blockedAddresses.delete(ip);
      return;
    }
    throw new DomainError('rate_limited', TOO_MANY_KEY_ATTEMPTS, { retryAfterSeconds: seconds });
  }

  /** Counts a failed API-key attempt of `ip`; blocks the address once the window's points are used up. */
  async keyAttemptFailed(ip: string): Promise<void> {
    const { maxFailuresPerIp } = this.config.loginThrottle;
    const outcome = await this.take(`apikey-ip:${ip}`, maxFailuresPerIp);
    if ('granted' in outcome) {
      if (outcome.points >= maxFailuresPerIp) this.blockedAddresses.set(ip, outcome.granted.expire * 1000);
      return;
    }
    this.blockedAddresses.set(ip, Date.now() + outcome.refusedForSeconds * 1000);
    throw new DomainError('rate_limited', TOO_MANY_KEY_ATTEMPTS, { retryAfterSeconds: outcome.refusedForSeconds });
  }

  /** The password was right: the account starts afresh and the address gets its point back. */
  async succeeded(permit: LoginPermit): Promise<void> {
    await Promise.all([this.clear(permit.account.key), this.giveBack(permit.address)]);
  }

  /** One point from `key`'s counter, or how long until its window ends when it has none left. */
  private async take(key: string, max: number): Promise<Outcome> {
    for (let attempt = 0; attempt < MAX_TRIES; attempt++) {
      const now = Date.now() / 1000;
      const expire = Math.ceil(now + this.config.loginThrottle.windowSeconds);
      let current: Record<string, unknown> | undefined;
      try {
        const { Attributes } = await this.clients.doc.send(
          new UpdateCommand({
            TableName: this.tableName,
            Key: { key },
            UpdateExpression: 'ADD points :one SET expire = if_not_exists(expire, :expire)',
            ConditionExpression: 'attribute_not_exists(points) OR (expire > :now AND points < :max)',
            ExpressionAttributeValues: { ':one': 1, ':expire': expire, ':now': now, ':max': max },
            ReturnValues: 'ALL_NEW',
            ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
          }),
        );
        return { granted: { key, expire: Attributes?.expire as number }, points: Attributes?.points as number };
      } catch (error) {
        if (!isConditionalCheckFailed(error)) throw error;
        const item = (error as { Item?: Record<string, AttributeValue> }).Item;
        current = item ? unmarshall(item) : await this.read(key);
      }
      const ends = current?.expire as number | undefined;
      if (ends !== undefined && ends > now) return { refusedForSeconds: Math.max(1, Math.ceil(ends - now)) };
      // The window has ended (DynamoDB's TTL removes items late): start a new one, unless another attempt just
      // did, or the counter was cleared; then take a point again from what is there now.
      try {
        await this.clients.doc.send(
          new UpdateCommand({
            TableName: this.tableName,
            Key: { key },
            UpdateExpression: 'SET points = :one, expire = :expire',
            ConditionExpression: 'expire <= :now',
            ExpressionAttributeValues: { ':one': 1, ':expire': expire, ':now': now },
          }),
        );
        return { granted: { key, expire }, points: 1 };
      } catch (error) {
        if (!isConditionalCheckFailed(error)) throw error;
      }
    }
    throw new Error(`could not take a login point from ${key}: its window kept changing`);
  }

  private async read(key: string): Promise<Record<string, unknown> | undefined> {
    const { Item } = await this.clients.doc.send(
      new GetCommand({ TableName: this.tableName, Key: { key }, ConsistentRead: true }),
    );
    return Item;
  }

  /** Returns a point to the window it was taken in; nothing when that window has ended or was cleared. */
  private async giveBack(point: Point): Promise<void> {
    try {
      await this.clients.doc.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: { key: point.key },
          UpdateExpression: 'ADD points :minus',
          ConditionExpression: 'expire = :expire AND points > :zero',
          ExpressionAttributeValues: { ':minus': -1, ':expire': point.expire, ':zero': 0 },
        }),
      );
    } catch (error) {
      // Keeping a point only makes the limit stricter: never worth failing a login over.
      if (!isConditionalCheckFailed(error)) this.logger.warn(`could not give a login point back: ${String(error)}`);
    }
  }

  private async clear(key: string): Promise<void> {
    try {
      await this.clients.doc.send(new DeleteCommand({ TableName: this.tableName, Key: { key } }));
    } catch (error) {
      this.logger.warn(`could not clear the login count of an account: ${String(error)}`);
    }
  }
}
