import type { Change } from './change-feed';
import { RequestContext, type ResolvedTenant } from './request-context';
import { TenantItemCache } from './tenant-item-cache';

/** The cache reads only the tenant's id. */
const settings = { monthlyTokenQuota: null, retentionDays: null };
const tenant = (id: string): ResolvedTenant => ({
  id,
  slug: id,
  name: id,
  status: 'active',
  tableName: id,
  schemaVersion: 1,
  settings,
});

/** Only the lifetime is read from the config. */
const config = { lifetimeMs: 60_000, tenants: 0, users: 0, roles: 0, operators: 0 };

/** A cache over a store of items per tenant, with a feed this test drives. */
function setup() {
  const store: Record<string, Record<string, string>> = { A: { u1: 'a-one' }, B: { u1: 'b-one' } };
  const loads: string[] = [];
  const handlers: Array<(change: Change) => void> = [];
  const feed = {
    trusts: () => true,
    subscribe: (kind: string, handler: (change: Change) => void) => {
      if (kind === 'user') handlers.push(handler);
    },
  };
  const load = async (id: string) => {
    const tenantId = RequestContext.tenant().id;
    loads.push(`${tenantId}:${id}`);
    return store[tenantId][id];
  };
  const cache = new TenantItemCache<string>('user', load, 10, { caches: config }, feed);
  const inTenant = <R>(id: string, fn: () => Promise<R> | R) =>
    RequestContext.runWithTenant(tenant(id), async () => fn());
  const announce = (change: Change) => handlers.forEach((h) => h(change));
  return { store, loads, cache, inTenant, announce };
}

describe('TenantItemCache', () => {
  it('keeps the same id of two tenants apart, and caches missing items as absent', async () => {
    const { loads, cache, inTenant } = setup();
    expect(await inTenant('A', () => cache.get('u1'))).toBe('a-one');
    expect(await inTenant('B', () => cache.get('u1'))).toBe('b-one');
    expect(await inTenant('A', () => cache.get('ghost'))).toBeUndefined();
    expect(await inTenant('A', () => cache.get('ghost'))).toBeUndefined();
    expect(await inTenant('A', () => cache.get('u1'))).toBe('a-one');
    expect(loads).toEqual(['A:u1', 'B:u1', 'A:ghost']);
  });

  it("drops only the item the feed names, of that tenant, and invalidate drops the current tenant's", async () => {
    const { store, loads, cache, inTenant, announce } = setup();
    await inTenant('A', () => cache.get('u1'));
    await inTenant('B', () => cache.get('u1'));
    store.A.u1 = 'a-two';
    store.B.u1 = 'b-two';

    announce({ kind: 'user', tenantId: 'A', id: 'u1' });
    announce({ kind: 'user', tenantId: 'B' }); // names no item: drops nothing
    expect(await inTenant('A', () => cache.get('u1'))).toBe('a-two');
    expect(await inTenant('B', () => cache.get('u1'))).toBe('b-one');

    await inTenant('B', () => cache.invalidate('u1'));
    expect(await inTenant('B', () => cache.get('u1'))).toBe('b-two');
    expect(loads).toEqual(['A:u1', 'B:u1', 'A:u1', 'B:u1']);
  });
});
