import { Injectable } from '@nestjs/common';
import { Entities } from '@lib/dynamo';
import type { UsageDto } from './dto/usage.dto';
import { UsageRepository } from './usage.repository';

const num = (v: unknown) => (typeof v === 'number' ? v : 0);

/** `byUser` lists this many users, those with the most tokens (the schema's maxItems). */
export const USAGE_TOP_USERS = 100;

/** The current tenant's usage: tokens, requests, per-user figures and DynamoDB consumed capacity. */
@Injectable()
export class UsageService {
  constructor(private readonly repository: UsageRepository) {}

  /** A month's usage of the tenant in context (operators enter the tenant first: `RequestContext.runWithTenant`). */
  async month(month: string): Promise<UsageDto> {
    return summarizeUsage(month, await this.repository.month(month));
  }
}

/** The usage items of a month as the API shows them: totals, and the top users by tokens. */
export function summarizeUsage(month: string, items: Array<Record<string, unknown>>): UsageDto {
  const total = items.find((i) => Entities.usage.isTotal(i)) ?? {};
  return {
    month,
    inputTokens: num(total.inputTokens),
    outputTokens: num(total.outputTokens),
    requests: num(total.requests),
    byUser: items
      .flatMap((i) => {
        const userId = Entities.usage.userOf(i);
        return userId === undefined
          ? []
          : [{ userId, inputTokens: num(i.inputTokens), outputTokens: num(i.outputTokens), requests: num(i.requests) }];
      })
      .sort((a, b) => b.inputTokens + b.outputTokens - (a.inputTokens + a.outputTokens))
      .slice(0, USAGE_TOP_USERS),
    dynamodb: { readCapacityUnits: num(total.readCapacityUnits), writeCapacityUnits: num(total.writeCapacityUnits) },
  };
}
