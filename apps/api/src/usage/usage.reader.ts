import { type DynamoDBDocumentClient, QueryCommand } from '@aws-sdk/lib-dynamodb';
import { TenantKeys } from '@lib/dynamo';
import type { UsageDto } from '../tenants/dto/tenant.dto';

const num = (v: unknown) => (typeof v === 'number' ? v : 0);

/** `byUser` lists this many users, those with the most tokens (the schema's maxItems). */
export const USAGE_TOP_USERS = 100;

/**
 * A month's usage of one tenant table: the `USAGE#<month>` partition holds `TOTAL` (tokens, requests,
 * consumed capacity) and one `USER#<id>` item per user. Pages of 1 000 items, all pages read.
 */
export async function readUsage(doc: DynamoDBDocumentClient, tableName: string, month: string): Promise<UsageDto> {
  const items: Array<Record<string, unknown>> = [];
  let start: Record<string, unknown> | undefined;
  do {
    const page = await doc.send(
      new QueryCommand({
        TableName: tableName,
        KeyConditionExpression: 'pk = :pk',
        ExpressionAttributeValues: { ':pk': TenantKeys.usage(month, 'TOTAL').pk },
        ExclusiveStartKey: start,
        Limit: 1000,
      }),
    );
    items.push(...(page.Items ?? []));
    start = page.LastEvaluatedKey;
  } while (start);
  return summarizeUsage(month, items);
}

/** The usage items of a month as the API shows them: totals, and the top users by tokens. */
export function summarizeUsage(month: string, items: Array<Record<string, unknown>>): UsageDto {
  const total = items.find((i) => i.sk === 'TOTAL') ?? {};
  return {
    month,
    inputTokens: num(total.inputTokens),
    outputTokens: num(total.outputTokens),
    requests: num(total.requests),
    byUser: items
      .filter((i) => String(i.sk).startsWith('USER#'))
      .map((i) => ({
        userId: String(i.sk).slice(5),
        inputTokens: num(i.inputTokens),
        outputTokens: num(i.outputTokens),
        requests: num(i.requests),
      }))
      .sort((a, b) => b.inputTokens + b.outputTokens - (a.inputTokens + a.outputTokens))
      .slice(0, USAGE_TOP_USERS),
    dynamodb: { readCapacityUnits: num(total.readCapacityUnits), writeCapacityUnits: num(total.writeCapacityUnits) },
  };
}
