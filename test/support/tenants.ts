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

export interface TenantSession {
  tenantId: string;
  slug: string;
  tableName: string;
  adminEmail: string;
  adminPassword: string;
  accessToken: string;
  refreshToken: string;
}

/** Creates a tenant and signs its first admin (role owner) in. */
export async function createTenantWithAdmin(
  url: string,
  operatorToken: string,
  slug = uniqueSlug(),
): Promise<TenantSession> {
  const tenant = await createTenant(url, operatorToken, slug);
  const adminEmail = `admin@${slug}.test`;
  const adminPassword = 'a-very-good-password';
  const login = await request(url)
    .post('/v1/auth/login')
    .send({ tenant: slug, email: adminEmail, password: adminPassword });
  if (login.status !== 200) throw new Error(`admin login: ${login.status} ${JSON.stringify(login.body)}`);
  return {
    tenantId: tenant.id,
    slug,
    tableName: tenant.tableName,
    adminEmail,
    adminPassword,
    ...(login.body as { accessToken: string; refreshToken: string }),
  };
}

/** The tenant's roles by name (as the admin sees them). */
export async function rolesByName(url: string, token: string): Promise<Record<string, string>> {
  const res = await request(url).get('/v1/roles').auth(token, { type: 'bearer' }).expect(200);
  return Object.fromEntries((res.body.items as Array<{ id: string; name: string }>).map((r) => [r.name, r.id]));
}

/** Creates a user with the given roles and signs them in. */
export async function createUser(
  url: string,
  adminToken: string,
  slug: string,
  roleIds: string[],
  email = `${uniqueSlug('u')}@${slug}.test`,
): Promise<{ id: string; email: string; password: string; accessToken: string; refreshToken: string }> {
  const password = 'another-good-password';
  const created = await request(url)
    .post('/v1/users')
    .auth(adminToken, { type: 'bearer' })
    .send({ email, name: 'User', password, roleIds });
  if (created.status !== 201) throw new Error(`create user: ${created.status} ${JSON.stringify(created.body)}`);
  const login = await request(url).post('/v1/auth/login').send({ tenant: slug, email, password }).expect(200);
  return { id: created.body.id, email, password, ...(login.body as { accessToken: string; refreshToken: string }) };
}
