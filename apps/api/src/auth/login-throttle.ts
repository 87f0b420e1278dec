import { Injectable, Logger, type OnModuleInit } from '@nestjs/common';
import { AppConfig } from '@lib/config';
import { DynamoClients, rateLimitTableName, rateLimitTableSpec, TableManager } from '@lib/dynamo';
import { DomainError } from '@lib/observability';
import { RateLimiterDynamo, RateLimiterRes } from 'rate-limiter-flexible';

/**
 * Failed logins counted per account (tenant + email) and per client address in DynamoDB
 * (rate-limiter-flexible's DynamoDB store). Past the limit, logins answer 429 with Retry-After until the
 * window ends; a successful login clears the account's count.
 */
@Injectable()
export class LoginThrottle implements OnModuleInit {
  private readonly logger = new Logger(LoginThrottle.name);
  private account!: RateLimiterDynamo;
  private address!: RateLimiterDynamo;

  constructor(
    private readonly config: AppConfig,
    private readonly clients: DynamoClients,
    private readonly tables: TableManager,
  ) {}

  async onModuleInit(): Promise<void> {
    const tableName = rateLimitTableName(this.config.dynamo.tablePrefix);
    await this.tables.ensureTable(rateLimitTableSpec(tableName));
    const { maxFailuresPerAccount, maxFailuresPerIp, windowSeconds } = this.config.loginThrottle;
    const common = {
      storeClient: this.clients.ddb,
      tableName,
      tableCreated: true,
      ttlSet: true,
      duration: windowSeconds,
    };
    this.account = new RateLimiterDynamo({ ...common, keyPrefix: 'login-account', points: maxFailuresPerAccount });
    this.address = new RateLimiterDynamo({ ...common, keyPrefix: 'login-ip', points: maxFailuresPerIp });
  }

  /** 429 when the account or the address has used up its failures in the current window. */
  async assertAllowed(accountKey: string, ip: string): Promise<void> {
    const [account, address] = await Promise.all([this.account.get(accountKey), this.address.get(ip)]);
    const blocked = [
      [account, this.config.loginThrottle.maxFailuresPerAccount],
      [address, this.config.loginThrottle.maxFailuresPerIp],
    ].filter(([res, max]) => res && (res as RateLimiterRes).consumedPoints >= (max as number)) as Array<
      [RateLimiterRes, number]
    >;
    if (blocked.length > 0) {
      const retryAfter = Math.max(1, ...blocked.map(([res]) => Math.ceil(res.msBeforeNext / 1000)));
      throw new DomainError('rate_limited', 'too many failed logins; retry later', { retryAfterSeconds: retryAfter });
    }
  }

  async recordFailure(accountKey: string, ip: string): Promise<void> {
    await Promise.all([this.penalize(this.account, accountKey), this.penalize(this.address, ip)]);
  }

  async recordSuccess(accountKey: string): Promise<void> {
    await this.account.delete(accountKey);
  }

  private async penalize(limiter: RateLimiterDynamo, key: string): Promise<void> {
    try {
      await limiter.penalty(key, 1);
    } catch (error) {
      this.logger.warn(`could not record a failed login: ${(error as Error).message}`);
    }
  }
}
