import { AsyncLocalStorage } from 'node:async_hooks';
import type { TenantSettings, TenantStatus } from '@lib/dynamo';

/** What the rest of the product knows about a tenant, resolved from the control table and cached. */
export interface ResolvedTenant {
  id: string;
  slug: string;
  name: string;
  status: TenantStatus;
  tableName: string;
  schemaVersion: number;
  settings: TenantSettings;
}

export type CallerScope = 'platform' | 'tenant';

/** The verified caller: an operator (scope platform) or a tenant user (scope tenant). */
export interface Caller {
  id: string;
  scope: CallerScope;
  sessionId: string;
  tenantId?: string;
  permissions: ReadonlySet<string>;
}

export interface RequestStore {
  requestId: string;
  tenant?: ResolvedTenant;
  caller?: Caller;
}

export class NoTenantContextError extends Error {
  constructor() {
    super('no tenant in the request context: a tenant repository was called outside a tenant-scoped request');
    this.name = 'NoTenantContextError';
  }
}

const storage = new AsyncLocalStorage<RequestStore>();

/** The request context on AsyncLocalStorage: request id, tenant, caller. No request-scoped providers. */
export const RequestContext = {
  run<T>(store: RequestStore, fn: () => T): T {
    return storage.run(store, fn);
  },
  current(): RequestStore | undefined {
    return storage.getStore();
  },
  requestId(): string | undefined {
    return storage.getStore()?.requestId;
  },
  /** The resolved tenant; throws when there is none, so no tenant data is ever read without one. */
  tenant(): ResolvedTenant {
    const tenant = storage.getStore()?.tenant;
    if (!tenant) throw new NoTenantContextError();
    return tenant;
  },
  caller(): Caller | undefined {
    return storage.getStore()?.caller;
  },
  /**
   * Runs `fn` with `tenant` as the context's tenant, the rest of the current context (request id, caller) kept,
   * so that tenant repositories work on that tenant's table: an operator's route about one tenant, or background
   * work on a tenant seen earlier. The surrounding context is left as it was.
   */
  runWithTenant<T>(tenant: ResolvedTenant, fn: () => T): T {
    const store = storage.getStore();
    return storage.run({ ...store, requestId: store?.requestId ?? 'background', tenant }, fn);
  },
  /**
   * Public tenant routes (login, refresh) resolve the tenant themselves, from the slug or the refresh token,
   * then enter it here so that tenant repositories can run.
   */
  enterTenant(tenant: ResolvedTenant): void {
    const store = storage.getStore();
    if (!store) throw new Error('no request context');
    store.tenant = tenant;
  },
};
