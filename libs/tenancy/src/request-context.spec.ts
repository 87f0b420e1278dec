import { NoTenantContextError, RequestContext, type ResolvedTenant } from './request-context';

const tenant = (id: string): ResolvedTenant => ({
  id,
  slug: `t-${id.toLowerCase()}`,
  name: id,
  status: 'active',
  tableName: `test-t-${id}`,
  schemaVersion: 1,
  settings: { monthlyTokenQuota: null, retentionDays: null },
});

describe('RequestContext.runWithTenant', () => {
  it("puts the tenant in scope for the call only, keeping the request's id and caller", async () => {
    const caller = { id: 'op', scope: 'platform' as const, sessionId: 's', permissions: new Set<string>() };
    await RequestContext.run({ requestId: 'r1', caller }, async () => {
      const seen = await RequestContext.runWithTenant(tenant('A'), async () => {
        await Promise.resolve();
        return { ...RequestContext.current(), table: RequestContext.tenant().tableName };
      });
      expect(seen).toMatchObject({ table: 'test-t-A', requestId: 'r1', caller });
      // The operator's own context never gains the tenant.
      expect(() => RequestContext.tenant()).toThrow(NoTenantContextError);
    });
  });

  it('works outside any request (background work), and nested scopes do not leak into each other', async () => {
    const tables = await Promise.all(
      ['A', 'B'].map((id) =>
        RequestContext.runWithTenant(tenant(id), async () => {
          await new Promise((r) => setImmediate(r));
          return RequestContext.tenant().tableName;
        }),
      ),
    );
    expect(tables).toEqual(['test-t-A', 'test-t-B']);
    expect(RequestContext.current()).toBeUndefined();
  });
});
