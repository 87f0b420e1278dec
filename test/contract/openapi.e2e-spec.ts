import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { generateOpenApi } from '../../apps/api/src/openapi';
import { REPLY_EVENT_NAMES } from '../../libs/client/src/streaming';

describe('the OpenAPI contract', () => {
  it('openapi.json is what the code generates (run `npm run openapi` after changing the API)', async () => {
    const checkedIn = JSON.parse(readFileSync(resolve(__dirname, '../../openapi.json'), 'utf8')) as unknown;
    expect(await generateOpenApi()).toEqual(checkedIn);
  });

  it('names every operation as a generated client calls it: unique camelCase operationIds', async () => {
    const doc = await generateOpenApi();
    const ids = Object.values(doc.paths).flatMap((ops) =>
      Object.values(ops as Record<string, { operationId?: string }>).map((op) => op.operationId),
    );
    expect(ids.filter((id) => !/^[a-z][A-Za-z]+$/.test(id ?? ''))).toEqual([]);
    expect(new Set(ids).size).toBe(ids.length);
    expect(ids).toEqual(
      expect.arrayContaining([
        'login',
        'refreshToken',
        'createTenant',
        'getTenant',
        'listChats',
        'createChat',
        'postMessage',
      ]),
    );
  });

  it('documents the problems every operation can answer, by what the operation takes', async () => {
    const doc = await generateOpenApi();
    for (const [path, ops] of Object.entries(doc.paths)) {
      for (const [method, op] of Object.entries(ops as Record<string, Record<string, unknown>>)) {
        const statuses = Object.keys(op.responses as object);
        const expected = ['400', '431', '500', '503'];
        if (op.security) expected.push('401', '403');
        if (['post', 'put', 'patch', 'delete'].includes(method)) expected.push('413', '415');
        if (path.includes('{')) expected.push('404', '414');
        expect({ op: `${method} ${path}`, statuses }).toEqual({
          op: `${method} ${path}`,
          statuses: expect.arrayContaining(expected),
        });
      }
    }
  });

  it('docs/api.md covers every path of openapi.json, and client.md every stream event', () => {
    const doc = JSON.parse(readFileSync(resolve(__dirname, '../../openapi.json'), 'utf8')) as { paths: object };
    const guide = readFileSync(resolve(__dirname, '../../docs/api.md'), 'utf8');
    expect(Object.keys(doc.paths).filter((path) => !guide.includes(`\`${path}\``))).toEqual([]);
    const client = readFileSync(resolve(__dirname, '../../docs/client.md'), 'utf8');
    expect(REPLY_EVENT_NAMES.filter((name) => !client.includes(`\`${name}\``))).toEqual([]);
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
        'GET /v1/chats/{chatId}/messages/{messageId}',
        'GET /v1/chats/{chatId}/messages/{messageId}/events',
        'POST /v1/chats/{chatId}/messages/{messageId}/cancel',
        'GET /v1/usage',
        'GET /health/live',
        'GET /health/ready',
      ]),
    );
  });
});
