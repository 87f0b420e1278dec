/**
 * Table names: `<prefix>platform` for the control table, `<prefix>t-<tenantId>` per tenant, `<prefix>ratelimits`
 * for the rate limiters (login throttling, message limits).
 */
export const controlTableName = (prefix: string): string => `${prefix}platform`;
export const rateLimitTableName = (prefix: string): string => `${prefix}ratelimits`;
export const tenantTableName = (prefix: string, tenantId: string): string => `${prefix}t-${tenantId}`;

/** Which tenant a table belongs to, for metrics labels: `platform`, the tenant id, or `other`. */
export function tenantOfTable(prefix: string, tableName: string | undefined): string {
  if (!tableName) return 'none';
  if (tableName === controlTableName(prefix)) return 'platform';
  const tenantPrefix = `${prefix}t-`;
  return tableName.startsWith(tenantPrefix) ? tableName.slice(tenantPrefix.length) : 'other';
}
