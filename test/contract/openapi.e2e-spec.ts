import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { generateOpenApi } from '../../apps/api/src/openapi';

describe('the OpenAPI contract', () => {
  it('openapi.json is what the code generates (run `npm run openapi` after changing the API)', async () => {
    const checkedIn = JSON.parse(readFileSync(resolve(__dirname, '../../openapi.json'), 'utf8')) as unknown;
    expect(await generateOpenApi()).toEqual(checkedIn);
  });

  it('documents every route of API.md', async () => {
    const doc = await generateOpenApi();
    const routes = Object.entries(doc.paths).flatMap(([path, ops]) =>
      Object.keys(ops).map((m) => `${m.toUpperCase()} ${path}`),
    );
    expect(routes).toEqual(
      expect.arrayContaining([
        'POST /v1/platform/auth/login',
        'POST /v1/platform/auth/refresh',
        'GET /v1/platform/me',
        'POST /v1/tenants',
        'GET /v1/tenants',
        'GET /v1/tenants/{tenantId}',
        'PATCH /v1/tenants/{tenantId}',
        'DELETE /v1/tenants/{tenantId}',
        'GET /v1/tenants/{tenantId}/usage',
        'POST /v1/auth/login',
        'POST /v1/auth/refresh',
        'POST /v1/auth/logout',
        'GET /v1/me',
        'GET /v1/users',
        'POST /v1/users',
        'GET /v1/users/{userId}',
        'PATCH /v1/users/{userId}',
        'DELETE /v1/users/{userId}',
        'GET /v1/permissions',
        'GET /v1/roles',
        'POST /v1/roles',
        'GET /v1/roles/{roleId}',
        'PATCH /v1/roles/{roleId}',
        'DELETE /v1/roles/{roleId}',
        'POST /v1/chats',
        'GET /v1/chats',
        'GET /v1/chats/{chatId}',
        'PATCH /v1/chats/{chatId}',
        'DELETE /v1/chats/{chatId}',
        'GET /v1/chats/{chatId}/messages',
        'POST /v1/chats/{chatId}/messages',
        'GET /v1/usage',
        'GET /health/live',
        'GET /health/ready',
      ]),
    );
  });
});
