/**
 * Property-based run of every operation in openapi.json against the running app: fast-check builds requests from the
 * document's own schemas, valid and hostile (path ids known, random or garbage; query and header values from their
 * schemas or not; bodies valid, with wrong types, unknown properties, huge strings, deep nesting, not JSON; tokens of
 * the right scope, the other scope, forged or none; an oversized header). Every response goes through the contract
 * check of the supertest wrapper (documented status and content type, body valid against its schema, SSE events
 * against x-sse-events), and no response may be a 5xx. A failure prints the seed and the request that broke it
 * (replay with FC_SEED=<seed>).
 */
import fc from 'fast-check';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import request from 'supertest';
import { ulid } from 'ulid';
import { startApp, type TestApp } from '../support/harness';
import { createTenant, createTenantWithAdmin, rolesByName, type TenantSession } from '../support/tenants';
import { loginOperator } from '../support/tokens';
import { type Components, hostile, invalidBody, type Schema, valid } from './schema-arbitraries';

interface Parameter {
  name: string;
  in: 'path' | 'query' | 'header';
  required?: boolean;
  schema: Schema;
}

interface Operation {
  operationId: string;
  parameters?: Parameter[];
  requestBody?: { content: Record<string, { schema: Schema }> };
  security?: unknown[];
  responses: Record<string, { content?: Record<string, unknown> }>;
}

const doc = JSON.parse(readFileSync(resolve(__dirname, '../../openapi.json'), 'utf8')) as {
  paths: Record<string, Record<string, Operation>>;
  components: { schemas: Components };
};
const components = doc.components.schemas;
/** Deletes last, so that the operations before them find the known objects still there. */
const operations = Object.entries(doc.paths)
  .flatMap(([path, methods]) => Object.entries(methods).map(([method, op]) => ({ path, method, op })))
  .sort((a, b) => Number(a.method === 'delete') - Number(b.method === 'delete'));

/** Runs per operation: enough to reach each branch of the generators a few times, bounded for CI. */
const RUNS = Number(process.env.FC_RUNS ?? 25);
/** Each valid tenant create provisions a DynamoDB table: fewer of those. */
const RUNS_BY_OPERATION: Record<string, number> = { createTenant: 6 };
const SEED = process.env.FC_SEED === undefined ? undefined : Number(process.env.FC_SEED);

/** Header values must be printable ASCII to be sent at all (the client refuses others before the server sees them). */
const headerSafe = (v: unknown) => (typeof v === 'string' ? v : (JSON.stringify(v) ?? '')).replace(/[^\x20-\x7e]/g, '');
const text = (v: unknown) => (typeof v === 'string' ? v : (JSON.stringify(v) ?? ''));

/** `arb` in one run out of `n`, null otherwise. */
const rarely = <T>(arb: fc.Arbitrary<T>, n: number): fc.Arbitrary<T | null> =>
  fc.oneof({ weight: n - 1, arbitrary: fc.constant(null) }, { weight: 1, arbitrary: arb });

type Auth = 'right' | 'other-scope' | 'forged' | 'none';

interface GeneratedRequest {
  auth: Auth;
  path: Record<string, string>;
  query: Array<[string, string]>;
  headers: Record<string, string>;
  body?: { kind: 'json'; value: unknown } | { kind: 'raw'; contentType: string; value: string };
}

describe('every operation of openapi.json under generated requests', () => {
  let t: TestApp;
  let operatorToken: string;
  let tenant: TenantSession;
  /** Existing ids per path parameter, so that generated requests also reach the handlers' success paths. */
  const known: Record<string, string[]> = {};

  beforeAll(async () => {
    t = await startApp({ CHAT_MESSAGES_PER_MINUTE_PER_USER: '1000', LOGIN_MAX_FAILURES_PER_IP: '100000' });
    operatorToken = (await loginOperator(t.url)).accessToken;
    tenant = await createTenantWithAdmin(t.url, operatorToken);
    // Tenant routes act on a tenant of their own (PATCH may suspend it, DELETE deletes it), not on the caller's.
    const target = await createTenant(t.url, operatorToken);
    const roles = await rolesByName(t.url, tenant.accessToken);
    const auth = { type: 'bearer' as const };
    const user = await request(t.url)
      .post('/v1/users')
      .auth(tenant.accessToken, auth)
      .send({
        email: `target@${tenant.slug}.test`,
        name: 'Target',
        password: 'a-very-good-password',
        roleIds: [roles.member],
      })
      .expect(201);
    const role = await request(t.url)
      .post('/v1/roles')
      .auth(tenant.accessToken, auth)
      .send({ name: 'Target role', permissions: ['chats:read'] })
      .expect(201);
    const chat = await request(t.url).post('/v1/chats').auth(tenant.accessToken, auth).send({}).expect(201);
    const exchange = await request(t.url)
      .post(`/v1/chats/${chat.body.id}/messages`)
      .auth(tenant.accessToken, auth)
      .send({ content: 'hello' })
      .expect(201);
    Object.assign(known, {
      tenantId: [target.id],
      userId: [user.body.id],
      roleId: [role.body.id],
      chatId: [chat.body.id],
      messageId: [exchange.body.assistantMessage.id, exchange.body.userMessage.id],
    });
  });
  afterAll(() => t?.close());

  function tokenFor(path: string, auth: Auth): string | undefined {
    const platform = path.startsWith('/v1/platform') || path.startsWith('/v1/tenants');
    if (auth === 'none') return undefined;
    if (auth === 'forged') return 'eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.';
    return (auth === 'right') === platform ? operatorToken : tenant.accessToken;
  }

  function requests(path: string, op: Operation): fc.Arbitrary<GeneratedRequest> {
    const params = op.parameters ?? [];
    const pathArbs = Object.fromEntries(
      params
        .filter((p) => p.in === 'path')
        .map((p) => [
          p.name,
          fc.oneof(
            { weight: 4, arbitrary: fc.constantFrom(...(known[p.name] ?? [ulid()])) },
            { weight: 1, arbitrary: fc.constant(0).map(() => ulid()) },
            { weight: 1, arbitrary: hostile.map(text) },
          ),
        ]),
    );
    const queryArb = fc
      .tuple(
        ...params
          .filter((p) => p.in === 'query')
          .map((p) =>
            fc.option(
              fc
                .oneof(
                  { weight: 3, arbitrary: valid(p.schema, components).map(text) },
                  { weight: 1, arbitrary: hostile.map(text) },
                )
                .map((v): [string, string] => [p.name, v]),
              { freq: 2 },
            ),
          ),
        rarely(fc.tuple(fc.constantFrom('unknown', 'limit', '__proto__'), fc.string({ maxLength: 10 })), 6),
      )
      .map((pairs) => pairs.filter((p): p is [string, string] => p !== null));
    const streams = Object.values(op.responses).some((r) => r.content?.['text/event-stream']);
    const headerArb = fc
      .tuple(
        ...params
          .filter((p) => p.in === 'header')
          .map((p) =>
            fc.option(
              fc
                .oneof(
                  { weight: 3, arbitrary: valid(p.schema, components).map(headerSafe) },
                  // ETags and event ids as clients send them (If-Match, Last-Event-ID).
                  {
                    weight: 1,
                    arbitrary: fc.constantFrom('*', 'W/"1"', '"1"', '"1", W/"2"', '"abc"', '0', '7', 'end'),
                  },
                  { weight: 1, arbitrary: hostile.map(headerSafe) },
                )
                .map((v): [string, string] => [p.name, v]),
              { freq: 2 },
            ),
          ),
        // A header section over Node's limit: 431 before any route.
        rarely(fc.constant<[string, string]>(['x-padding', 'a'.repeat(20_000)]), 15),
        // Server-Sent Events where the operation streams: every event is checked against x-sse-events.
        streams ? fc.constantFrom<[string, string] | null>(null, ['accept', 'text/event-stream']) : fc.constant(null),
      )
      .map((pairs) => Object.fromEntries(pairs.filter((p): p is [string, string] => p !== null)));
    const schema = op.requestBody?.content['application/json']?.schema;
    const bodyArb: fc.Arbitrary<GeneratedRequest['body']> = schema
      ? fc.oneof(
          { weight: 3, arbitrary: valid(schema, components).map((value) => ({ kind: 'json' as const, value })) },
          { weight: 3, arbitrary: invalidBody(schema, components).map((value) => ({ kind: 'json' as const, value })) },
          {
            weight: 1,
            arbitrary: fc.constantFrom(
              { kind: 'raw' as const, contentType: 'text/plain', value: 'hello' },
              { kind: 'raw' as const, contentType: 'application/json', value: '{"unterminated": ' },
              { kind: 'raw' as const, contentType: 'application/x-www-form-urlencoded', value: 'a=1&b=2' },
              { kind: 'raw' as const, contentType: 'application/json', value: 'x'.repeat(1_100_000) },
            ),
          },
        )
      : fc.constant(undefined);
    const authArb = op.security
      ? fc.constantFrom<Auth>('right', 'right', 'right', 'right', 'other-scope', 'forged', 'none')
      : fc.constant<Auth>('none');
    return fc.record({ auth: authArb, path: fc.record(pathArbs), query: queryArb, headers: headerArb, body: bodyArb });
  }

  async function send(method: string, template: string, r: GeneratedRequest) {
    const path = template.replace(/\{([^}]+)\}/g, (_, name: string) => encodeURIComponent(r.path[name]));
    const query = r.query.map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`).join('&');
    const agent = request(t.url) as unknown as Record<string, (url: string) => request.Test>;
    let req = agent[method](query ? `${path}?${query}` : path);
    const token = tokenFor(template, r.auth);
    if (token) req = req.set('authorization', `Bearer ${token}`);
    for (const [name, value] of Object.entries(r.headers)) req = req.set(name, value);
    if (r.body?.kind === 'json') req = req.set('content-type', 'application/json').send(JSON.stringify(r.body.value));
    else if (r.body?.kind === 'raw') req = req.set('content-type', r.body.contentType).send(r.body.value);
    return req;
  }

  it.each(operations.map((o) => [`${o.method.toUpperCase()} ${o.path} (${o.op.operationId})`, o] as const))(
    '%s: documented statuses and bodies, never a 5xx',
    async (_name, { path, method, op }) => {
      const statuses = new Set<number>();
      await fc.assert(
        fc.asyncProperty(requests(path, op), async (generated) => {
          // The supertest wrapper checks the response against openapi.json (and throws on a violation).
          const res = await send(method, path, generated);
          statuses.add(res.status);
          if (res.status >= 500) throw new Error(`${res.status}: ${JSON.stringify(res.body).slice(0, 300)}`);
        }),
        { numRuns: RUNS_BY_OPERATION[op.operationId] ?? RUNS, seed: SEED, endOnFailure: true },
      );
      // Where the request has inputs, the generators reach more than one outcome (not only 401s, or only 400s).
      const inputs = Boolean(op.security || op.parameters?.length || op.requestBody);
      expect(statuses.size).toBeGreaterThan(inputs ? 1 : 0);
    },
  );
});
