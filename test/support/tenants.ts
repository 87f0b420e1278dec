import request from 'supertest';

let counter = 0;

/** A slug no other test uses. */
export function uniqueSlug(base = 't'): string {
  counter += 1;
  return `${base}-${process.pid}-${Date.now().toString(36)}-${counter}`.slice(0, 40).replace(/-$/, 'x');
}

export function tenantBody(slug = uniqueSlug(), overrides: Record<string, unknown> = {}) {
  return {
    name: `Tenant ${slug}`,
    slug,
    admin: { email: `admin@${slug}.test`, name: 'First Admin', password: 'a-very-good-password' },
    ...overrides,
  };
}

/** Creates a tenant through the operator API and expects it active. */
export async function createTenant(url: string, operatorToken: string, slug = uniqueSlug()) {
  const res = await request(url).post('/v1/tenants').auth(operatorToken, { type: 'bearer' }).send(tenantBody(slug));
  if (res.status !== 201) throw new Error(`create tenant: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body as { id: string; slug: string; tableName: string; status: string; schemaVersion: number };
}
