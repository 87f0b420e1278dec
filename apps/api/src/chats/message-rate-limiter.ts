import { Injectable, type OnModuleInit } from '@nestjs/common';
import { AppConfig } from '@lib/config';
import { DynamoClients, rateLimitTableName, rateLimitTableSpec, TableManager } from '@lib/dynamo';
import { DomainError } from '@lib/observability';
import { RateLimiterDynamo, RateLimiterRes } from 'rate-limiter-flexible';

/** Message creation limits per user and per tenant, per minute, counted in DynamoDB (shared by all instances). */
@Injectable()
export class MessageRateLimiter implements OnModuleInit {
  private perUser!: RateLimiterDynamo;
  private perTenant!: RateLimiterDynamo;

  constructor(
    private readonly config: AppConfig,
    private readonly clients: DynamoClients,
    private readonly tables: TableManager,
  ) {}

  async onModuleInit(): Promise<void> {
    const tableName = rateLimitTableName(this.config.dynamo.tablePrefix);
    await this.tables.ensureTable(rateLimitTableSpec(tableName));
    const common = { storeClient: this.clients.ddb, tableName, tableCreated: true, ttlSet: true, duration: 60 };
    this.perUser = new RateLimiterDynamo({
      ...common,
      keyPrefix: 'msg-user',
      points: this.config.chatRateLimits.perUserPerMinute,
    });
    this.perTenant = new RateLimiterDynamo({
      ...common,
      keyPrefix: 'msg-tenant',
      points: this.config.chatRateLimits.perTenantPerMinute,
    });
  }

  /** Counts one message for the user and the tenant; 429 with Retry-After past either limit. */
  async consume(tenantId: string, userId: string): Promise<void> {
    try {
      await Promise.all([this.perTenant.consume(tenantId), this.perUser.consume(`${tenantId}:${userId}`)]);
    } catch (error) {
      if (error instanceof RateLimiterRes) {
        throw new DomainError('rate_limited', 'too many messages; slow down', {
          retryAfterSeconds: Math.max(1, Math.ceil(error.msBeforeNext / 1000)),
        });
      }
      throw error;
    }
  }
}
