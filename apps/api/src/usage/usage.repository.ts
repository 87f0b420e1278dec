import { Injectable } from '@nestjs/common';
import { QueryCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { DynamoClients, TenantKeys } from '@lib/dynamo';
import { TenantRepository } from '@lib/tenancy';

/** The month's usage counters of the current tenant: the `USAGE#<month>` partition (`TOTAL`, `USER#<id>`). */
@Injectable()
export class UsageRepository extends TenantRepository {
  constructor(clients: DynamoClients) {
    super(clients);
  }

  /** Every item of the month's partition, in pages of 1 000, all pages read. */
  async month(month: string): Promise<Array<Record<string, unknown>>> {
    const items: Array<Record<string, unknown>> = [];
    let start: Record<string, unknown> | undefined;
    do {
      const page = await this.doc.send(
        new QueryCommand({
          TableName: this.tableName,
          KeyConditionExpression: 'pk = :pk',
          ExpressionAttributeValues: { ':pk': TenantKeys.usage(month, 'TOTAL').pk },
          ExclusiveStartKey: start,
          Limit: 1000,
        }),
      );
      items.push(...(page.Items ?? []));
      start = page.LastEvaluatedKey;
    } while (start);
    return items;
  }

  /**
   * Adds consumed capacity units to the month's `TOTAL`. The write asks for no capacity report of its own, so
   * that recording capacity does not feed back into the counters.
   */
  async addCapacity(month: string, read: number, write: number): Promise<void> {
    await this.doc.send(
      new UpdateCommand({
        TableName: this.tableName,
        Key: TenantKeys.usage(month, 'TOTAL'),
        UpdateExpression: 'ADD readCapacityUnits :r, writeCapacityUnits :w',
        ExpressionAttributeValues: { ':r': read, ':w': write },
        ReturnConsumedCapacity: 'NONE',
      }),
    );
  }
}
