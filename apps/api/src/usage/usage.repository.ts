import { Injectable } from '@nestjs/common';
import { DynamoClients, Entities } from '@lib/dynamo';
import { TenantRepository } from '@lib/tenancy';

/** The month's usage counters of the current tenant (`Entities.usage`): the tenant's total and one per user. */
@Injectable()
export class UsageRepository extends TenantRepository {
  constructor(clients: DynamoClients) {
    super(clients);
  }

  /** Every counter of the month, in pages of 1 000, all pages read. */
  async month(month: string): Promise<Array<Record<string, unknown>>> {
    const items: Array<Record<string, unknown>> = [];
    for await (const item of this.table.all<Record<string, unknown>>(Entities.usage.month(month), 1000)) {
      items.push(item);
    }
    return items;
  }

  /**
   * Adds consumed capacity units to the month's total. The write asks for no capacity report of its own, so
   * that recording capacity does not feed back into the counters.
   */
  async addCapacity(month: string, read: number, write: number): Promise<void> {
    await this.table.update(Entities.usage.key(month, 'TOTAL'), {
      UpdateExpression: 'ADD readCapacityUnits :r, writeCapacityUnits :w',
      ExpressionAttributeValues: { ':r': read, ':w': write },
      ReturnConsumedCapacity: 'NONE',
    });
  }
}
