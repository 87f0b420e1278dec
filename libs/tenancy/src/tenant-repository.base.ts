import type { DynamoClients } from '@lib/dynamo';
import { TenantTable } from './data/tenant-table';
import { RequestContext, type ResolvedTenant } from './request-context';

export type { TransactItem } from '@lib/dynamo';

/**
 * Base of every repository over a tenant table. Its only way to the table is `table`, a handle bound to the
 * tenant of the request context (the tenant resolved from the verified token, or the one background work runs
 * with through `RequestContext.runWithTenant`); without a tenant in context every call throws.
 */
export abstract class TenantRepository {
  protected constructor(private readonly clients: DynamoClients) {}

  /** The current tenant's table; throws NoTenantContextError when there is no tenant. */
  protected get table(): TenantTable {
    return new TenantTable(this.clients, RequestContext.tenant());
  }

  /** The tenant of the current request; throws NoTenantContextError when there is none. */
  protected get tenant(): ResolvedTenant {
    return RequestContext.tenant();
  }
}
