import { Injectable } from '@nestjs/common';
import { DynamoClients, Entities } from '@lib/dynamo';
import { ChangeFeed, REFUSED, TenantRepository } from '@lib/tenancy';
import type { ApiKeyRecord } from './api-key.types';

/** API keys of the current tenant (table from the request context). */
@Injectable()
export class ApiKeysRepository extends TenantRepository {
  constructor(
    clients: DynamoClients,
    private readonly feed: ChangeFeed,
  ) {
    super(clients);
  }

  /** Every key of the tenant, oldest first (a tenant has at most MAX_API_KEYS_PER_TENANT). */
  async list(): Promise<ApiKeyRecord[]> {
    const keys: ApiKeyRecord[] = [];
    for await (const key of this.table.all<ApiKeyRecord>(Entities.apiKey.all())) keys.push(key);
    return keys;
  }

  async get(id: string): Promise<ApiKeyRecord | undefined> {
    return this.table.get<ApiKeyRecord>(Entities.apiKey.key(id));
  }

  async create(key: ApiKeyRecord): Promise<boolean> {
    const result = await this.table.put(
      { ...Entities.apiKey.key(key.id), ...Entities.apiKey.index(key.createdAt, key.id), ...key },
      { ConditionExpression: 'attribute_not_exists(pk)' },
    );
    return result !== REFUSED;
  }

  /**
   * Deletes the key with a change record in the same transaction, so that every instance drops it from its
   * cache within the revocation bound; false when there is no such key.
   */
  async delete(id: string): Promise<boolean> {
    const result = await this.table.transact<'missing'>([
      { delete: Entities.apiKey.key(id), when: { ConditionExpression: 'attribute_exists(pk)' }, refusal: 'missing' },
      { foreign: this.feed.entry({ kind: 'apiKey', tenantId: this.tenant.id, id }) },
    ]);
    return result.committed;
  }

  /** Records a use, unless one at or after `since` is recorded already (another instance) or the key is gone. */
  async touch(id: string, at: string, since: string): Promise<void> {
    await this.table.update(Entities.apiKey.key(id), {
      UpdateExpression: 'SET lastUsedAt = :at',
      ConditionExpression: 'attribute_exists(pk) AND (attribute_not_exists(lastUsedAt) OR lastUsedAt < :since)',
      ExpressionAttributeValues: { ':at': at, ':since': since },
    });
  }
}
