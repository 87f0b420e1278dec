import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { DynamoClients } from '@lib/dynamo';
import { RequestContext, type ResolvedTenant } from './request-context';

/**
 * Base of every repository over a tenant table. The table name comes only from the request context (the
 * tenant resolved from the verified token); without a tenant in context every call throws.
 */
export abstract class TenantRepository {
  protected constructor(private readonly clients: DynamoClients) {}

  protected get doc(): DynamoDBDocumentClient {
    return this.clients.doc;
  }

  /** The tenant of the current request; throws NoTenantContextError when there is none. */
  protected get tenant(): ResolvedTenant {
    return RequestContext.tenant();
  }

  /** The current tenant's table name; throws NoTenantContextError when there is none. */
  protected get tableName(): string {
    return RequestContext.tenant().tableName;
  }
}
