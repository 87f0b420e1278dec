import { BatchWriteCommand, ScanCommand } from '@aws-sdk/lib-dynamodb';
import { DynamoClients } from '@lib/dynamo';
import { TenantsRepository } from '@app/tenants/tenants.repository';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import request from 'supertest';
import { ulid } from 'ulid';
import { runCli } from '../support/cli';
import { startApp, testEnv, type TestApp } from '../support/harness';
import { createTenantWithAdmin, createUser, rolesByName, type TenantSession, uniqueSlug } from '../support/tenants';
import { loginOperator } from '../support/tokens';

/** Raw message items added to the source's chat, so that an import has enough batches to be killed half-way. */
const BULK_MESSAGES = 600;

/** JSON with object keys sorted: two reads of one item compare equal whatever the attribute order. */
function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (value && typeof value === 'object')
    return `{${Object.keys(value)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonical((value as Record<string, unknown>)[k])}`)
      .join(',')}}`;
  return JSON.stringify(value);
}

interface ExportFile {
  header: { schemaVersion: number; tenant: { id: string; slug: string; settings: Record<string, unknown> } };
  items: Array<Record<string, { S?: string }>>;
  trailer: { items: number; counts: Record<string, number>; sha256: string };
  lines: string[];
}

function parseExport(gz: Buffer): ExportFile {
  const lines = gunzipSync(gz).toString('utf8').split('\n');
  expect(lines.pop()).toBe('');
  return {
    header: JSON.parse(lines[0]),
    items: lines.slice(1, -1).map((l) => JSON.parse(l)),
    trailer: JSON.parse(lines[lines.length - 1]),
    lines,
  };
}

/**
 * The items of an export as a sorted list of canonical lines (the same items compare equal). `measured`: without
 * the consumed-capacity counters, which every process adds the table's consumption to (requests, and the export's
 * and import's own reads and writes: docs/export-import.md).
 */
const itemSet = (f: ExportFile, measured = false) =>
  f.items
    .map((i) => {
      if (!measured) return canonical(i);
      const { readCapacityUnits: _r, writeCapacityUnits: _w, ...rest } = i;
      return canonical(rest);
    })
    .sort();

/** An export file built by hand: `header` and `items`, with a trailer computed as the format says. */
function buildExport(header: object, items: object[]): Buffer {
  const hash = createHash('sha256');
  const headerLine = JSON.stringify(header);
  hash.update(`${headerLine}\n`);
  const itemLines = items.map((i) => JSON.stringify(i));
  for (const line of itemLines) hash.update(`${line}\n`);
  const counts: Record<string, number> = {};
  for (const item of items as Array<{ pk: { S: string }; sk: { S: string } }>) {
    const kind = item.pk.S.startsWith('CHAT#') ? (item.sk.S === 'CHAT' ? 'chat' : 'message') : 'other';
    counts[kind] = (counts[kind] ?? 0) + 1;
  }
  const trailer = { trailer: true, items: items.length, counts, sha256: hash.digest('hex') };
  return gzipSync([headerLine, ...itemLines, JSON.stringify(trailer), ''].join('\n'));
}

describe('tenant export and import (CLI and operator route)', () => {
  let t: TestApp;
  let env: Record<string, string | undefined>;
  let operator: string;
  let clients: DynamoClients;
  let repository: TenantsRepository;
  let dir: string;
  let source: TenantSession;
  let member: { id: string; email: string; password: string; accessToken: string };
  let chatIds: string[];
  let original: ExportFile;
  const api = () => request(t.url);

  const cli = (args: string[], extra: Record<string, string> = {}) => runCli(args, { ...env, ...extra });
  const file = (name: string) => join(dir, name);

  async function cliJson<T>(args: string[], extra: Record<string, string> = {}): Promise<T> {
    const res = await cli([...args, '--json'], extra);
    if (res.code !== 0) throw new Error(`${args.join(' ')}: ${res.code} ${res.stderr}`);
    return JSON.parse(res.stdout) as T;
  }

  async function exportTo(slug: string, name: string): Promise<ExportFile> {
    await cliJson(['tenants:export', slug, '--out', file(name), '--suspend']);
    return parseExport(readFileSync(file(name)));
  }

  /** The items of a tenant table as DynamoDB holds them (sessions included): what an export must leave out. */
  async function scanTable(tableName: string): Promise<Array<Record<string, unknown>>> {
    const items: Array<Record<string, unknown>> = [];
    let start: Record<string, unknown> | undefined;
    do {
      const page = await clients.doc.send(new ScanCommand({ TableName: tableName, ExclusiveStartKey: start }));
      items.push(...(page.Items ?? []));
      start = page.LastEvaluatedKey;
    } while (start);
    return items;
  }

  async function settled(token: string, chatId: string): Promise<void> {
    for (let i = 0; i < 100; i++) {
      const page = await api().get(`/v1/chats/${chatId}/messages`).auth(token, { type: 'bearer' }).expect(200);
      if (!(page.body.items as Array<{ status: string }>).some((m) => m.status === 'generating')) return;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error('replies still generating');
  }

  const login = (slug: string, email: string, password: string) =>
    api().post('/v1/auth/login').send({ tenant: slug, email, password });

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'export-'));
    env = testEnv({ LOGIN_MAX_FAILURES_PER_IP: '10000' });
    t = await startApp(env);
    clients = t.app.get(DynamoClients);
    repository = t.app.get(TenantsRepository);
    operator = (await loginOperator(t.url)).accessToken;
    source = await createTenantWithAdmin(t.url, operator);
    const roles = await rolesByName(t.url, source.accessToken);
    const custom = await api()
      .post('/v1/roles')
      .auth(source.accessToken, { type: 'bearer' })
      .send({ name: 'support', permissions: ['chats:read', 'users:read'] })
      .expect(201);
    member = await createUser(t.url, source.accessToken, source.slug, [roles.member, custom.body.id]);
    chatIds = [];
    for (const title of ['First', 'Second']) {
      const chat = await api()
        .post('/v1/chats')
        .auth(member.accessToken, { type: 'bearer' })
        .send({ title })
        .expect(201);
      chatIds.push(chat.body.id);
      for (const content of ['hello there', 'and again']) {
        await api()
          .post(`/v1/chats/${chat.body.id}/messages`)
          .auth(member.accessToken, { type: 'bearer' })
          .send({ content })
          .expect(201);
        await settled(member.accessToken, chat.body.id);
      }
    }
    const bulk = Array.from({ length: BULK_MESSAGES }, (_, i) => ({
      pk: `CHAT#${chatIds[0]}`,
      sk: `MSG#${ulid()}`,
      id: `bulk-${i}`,
      role: 'user',
      content: `bulk message ${i}`,
      status: 'done',
      createdAt: new Date().toISOString(),
    }));
    for (let i = 0; i < bulk.length; i += 25) {
      const requests = bulk.slice(i, i + 25).map((Item) => ({ PutRequest: { Item } }));
      await clients.doc.send(new BatchWriteCommand({ RequestItems: { [source.tableName]: requests } }));
    }
    // Settings last (the reply above used the deployment's provider): a quota, retention and a sealed LLM key.
    await api()
      .patch(`/v1/tenants/${source.tenantId}`)
      .auth(operator, { type: 'bearer' })
      .send({
        settings: {
          monthlyTokenQuota: 500000,
          llm: { provider: 'openai', baseUrl: 'http://127.0.0.1:9', model: 'm-1', apiKey: 'sk-clone-me' },
        },
      })
      .expect(200);
    original = await exportTo(source.slug, 'source.ndjson.gz');
  }, 180_000);

  afterAll(async () => {
    await t?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('exports every item but sessions, with a header and a trailer that agree; the tenant is resumed after', async () => {
    const stored = await scanTable(source.tableName);
    expect(stored.some((i) => String(i.sk).startsWith('SESSION#'))).toBe(true);
    const kept = stored.filter((i) => !String(i.sk).startsWith('SESSION#') && !String(i.pk).startsWith('GEN#'));
    expect(original.items).toHaveLength(kept.length);
    expect(original.items.some((i) => i.sk.S?.startsWith('SESSION#'))).toBe(false);
    expect(original.trailer.items).toBe(original.items.length);
    expect(original.trailer.counts).toMatchObject({
      user: 2,
      email: 2,
      role: Object.keys(await rolesByName(t.url, source.accessToken)).length,
      chat: 2,
      message: BULK_MESSAGES + 8,
      usage: expect.any(Number),
    });
    expect(original.header).toMatchObject({
      format: 'chat-platform-tenant-export',
      formatVersion: 1,
      schemaVersion: 3,
      consistency: 'suspended',
      tenant: { id: source.tenantId, slug: source.slug },
    });
    expect(JSON.stringify(original.header)).not.toContain('sk-clone-me');
    expect((await repository.get(source.tenantId))?.status).toBe('active');
  });

  it('round trip: export → import → export gives the same items; users sign in to the clone with their passwords', async () => {
    const slug = uniqueSlug('clone');
    const result = await cliJson<{ outcome: string; tenant: { id: string; status: string }; items: number }>([
      'tenants:import',
      '--file',
      file('source.ndjson.gz'),
      '--slug',
      slug,
    ]);
    expect(result).toMatchObject({ outcome: 'imported', items: original.items.length, tenant: { status: 'active' } });
    expect(result.tenant.id).not.toBe(source.tenantId);
    const again = await exportTo(slug, 'clone.ndjson.gz');
    expect(itemSet(again, true)).toEqual(itemSet(original, true));
    expect(again.trailer.sha256).not.toBe(original.trailer.sha256); // the header names another tenant
    expect(again.header.tenant.id).toBe(result.tenant.id);
    // Settings carried; the LLM key sealed again for the clone's id (it opens there, not under the source's).
    const clone = await api().get(`/v1/tenants/${result.tenant.id}`).auth(operator, { type: 'bearer' }).expect(200);
    expect(clone.body.settings).toMatchObject({
      monthlyTokenQuota: 500000,
      llm: { provider: 'openai', model: 'm-1', apiKeySet: true },
    });
    const record = await repository.get(result.tenant.id);
    const { tenantLlmApiKey, toResolvedTenant } = await import('@lib/tenancy');
    expect(tenantLlmApiKey(toResolvedTenant(record!), t.config.secrets)).toBe('sk-clone-me');
    // Old passwords work; the chats are the same chats.
    const signedIn = await login(slug, member.email, member.password).expect(200);
    const chats = await api().get('/v1/chats').auth(signedIn.body.accessToken, { type: 'bearer' }).expect(200);
    expect((chats.body.items as Array<{ id: string }>).map((c) => c.id).sort()).toEqual([...chatIds].sort());
    await login(slug, source.adminEmail, source.adminPassword).expect(200);
    // Re-running the finished import changes nothing.
    const rerun = await cliJson<{ outcome: string }>([
      'tenants:import',
      '--file',
      file('source.ndjson.gz'),
      '--slug',
      slug,
    ]);
    expect(rerun.outcome).toBe('unchanged');
  });

  it('refuses a truncated or edited export before anything is written', async () => {
    const gz = readFileSync(file('source.ndjson.gz'));
    const text = gunzipSync(gz).toString('utf8');
    const lines = text.split('\n');
    const edited = lines.map((l) =>
      l.includes('bulk message 7"') ? l.replace('bulk message 7', 'bulk message 8') : l,
    );
    const cases: Array<[string, Buffer, RegExp]> = [
      ['truncated.gz', gz.subarray(0, Math.floor(gz.length * 0.6)), /truncated or damaged/],
      ['no-trailer.gz', gzipSync(lines.slice(0, -2).join('\n') + '\n'), /no trailer/],
      ['edited.gz', gzipSync(edited.join('\n')), /checksum mismatch/],
      [
        'future.gz',
        gzipSync([JSON.stringify({ ...original.header, schemaVersion: 99 }), ...lines.slice(1)].join('\n')),
        /newer than this deployment/,
      ],
    ];
    for (const [name, content, why] of cases) {
      writeFileSync(file(name), content);
      const slug = uniqueSlug('refused');
      const res = await cli(['tenants:import', '--file', file(name), '--slug', slug]);
      expect({ name, code: res.code }).toEqual({ name, code: 1 });
      expect(res.stderr).toMatch(why);
      expect(await repository.getBySlug(slug)).toBeUndefined();
    }
  });

  it('an import killed half-way leaves the tenant provisioning; run again, it ends identical', async () => {
    const slug = uniqueSlug('killed');
    const killed = await cli(['tenants:import', '--file', file('source.ndjson.gz'), '--slug', slug], {
      TEST_CRASH_POINT: 'half-way-tenant-import',
    });
    expect(killed.signal).toBe('SIGKILL');
    const half = await repository.getBySlug(slug);
    expect(half).toMatchObject({ status: 'provisioning', importOf: original.trailer.sha256 });
    const written = (await scanTable(half!.tableName)).length;
    expect(written).toBeGreaterThan(0);
    expect(written).toBeLessThan(original.items.length);
    await login(slug, member.email, member.password).expect(401);
    const resumed = await cliJson<{ outcome: string; tenant: { id: string } }>([
      'tenants:import',
      '--file',
      file('source.ndjson.gz'),
      '--slug',
      slug,
    ]);
    expect(resumed).toMatchObject({ outcome: 'resumed', tenant: { id: half!.id } });
    expect(itemSet(await exportTo(slug, 'resumed.ndjson.gz'), true)).toEqual(itemSet(original, true));
    await login(slug, member.email, member.password).expect(200);
  });

  it('--replace restores an existing tenant from an export, after confirmation', async () => {
    const target = await createTenantWithAdmin(t.url, operator);
    const refused = await cli(['tenants:import', '--file', file('source.ndjson.gz'), '--replace', target.slug]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/--yes/);
    await login(target.slug, target.adminEmail, target.adminPassword).expect(200);
    // The admin's token is good, and the API has cached the admin and the tenant's roles.
    await api().get('/v1/roles').auth(target.accessToken, { type: 'bearer' }).expect(200);
    const replaced = await cliJson<{ outcome: string; tenant: { status: string } }>([
      'tenants:import',
      '--file',
      file('source.ndjson.gz'),
      '--replace',
      target.slug,
      '--yes',
    ]);
    expect(replaced).toMatchObject({ outcome: 'replaced', tenant: { status: 'active' } });
    expect(itemSet(await exportTo(target.slug, 'replaced.ndjson.gz'), true)).toEqual(itemSet(original, true));
    await login(target.slug, target.adminEmail, target.adminPassword).expect(401);
    // The admin is not in the restored data: their unexpired token no longer gets in (no stale cached user).
    await api().get('/v1/roles').auth(target.accessToken, { type: 'bearer' }).expect(401);
    await login(target.slug, member.email, member.password).expect(200);
  });

  it('imports an export of an older schema version (migrated forward)', async () => {
    const chat = original.items.find((i) => i.sk.S === 'CHAT')!;
    const messages = original.items.filter((i) => i.pk.S === chat.pk.S && i.sk.S !== 'CHAT').slice(0, 3);
    const old = { ...chat, gsi2pk: { S: 'CHATS' }, gsi2sk: { S: 'x' } };
    writeFileSync(file('v2.gz'), buildExport({ ...original.header, schemaVersion: 2 }, [old, ...messages]));
    const slug = uniqueSlug('v2');
    const res = await cliJson<{ outcome: string; fromSchemaVersion: number }>([
      'tenants:import',
      '--file',
      file('v2.gz'),
      '--slug',
      slug,
    ]);
    expect(res).toMatchObject({ outcome: 'imported', fromSchemaVersion: 2 });
    const imported = parseExport(readFileSync(file('v2.gz')));
    // The import's own writes are counted in the new tenant's usage of the month (a USAGE item of its own).
    const stored = (await scanTable((await repository.getBySlug(slug))!.tableName)).filter(
      (i) => !String(i.pk).startsWith('USAGE#'),
    );
    expect(stored).toHaveLength(imported.items.length);
    expect(stored.some((i) => 'gsi2pk' in i || 'gsi2sk' in i)).toBe(false);
  });

  it('the operator route streams the same export; operators only; 404 for an unknown tenant; 409 when active', async () => {
    const binary = (res: request.Response, done: (e: Error | null, body: Buffer) => void) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => done(null, Buffer.concat(chunks)));
    };
    const url = `/v1/tenants/${source.tenantId}/export`;
    await api().get(url).auth(operator, { type: 'bearer' }).expect(409);
    await api().get(url).auth(source.accessToken, { type: 'bearer' }).expect(403);
    await api().get(`/v1/tenants/${ulid()}/export`).auth(operator, { type: 'bearer' }).expect(404);
    const res = await api()
      .get(url)
      .query({ allowSkew: 'true' })
      .auth(operator, { type: 'bearer' })
      .buffer(true)
      .parse(binary)
      .expect(200);
    expect(res.headers['content-type']).toBe('application/gzip');
    const streamed = parseExport(res.body as Buffer);
    expect(streamed.header).toMatchObject({ consistency: 'skew', tenant: { id: source.tenantId } });
    // Same items but the sessions the sign-ins above added (never exported) and usage counters they moved.
    const withoutUsage = (f: ExportFile) =>
      itemSet({ ...f, items: f.items.filter((i) => !i.pk.S?.startsWith('USAGE#')) });
    expect(withoutUsage(streamed)).toEqual(withoutUsage(original));
    // A suspended tenant exports without skew (the consistent export an operator restores from).
    const patch = (status: string) =>
      api().patch(`/v1/tenants/${source.tenantId}`).auth(operator, { type: 'bearer' }).send({ status }).expect(200);
    await patch('suspended');
    try {
      const consistent = await api().get(url).auth(operator, { type: 'bearer' }).buffer(true).parse(binary).expect(200);
      expect(parseExport(consistent.body as Buffer).header).toMatchObject({ consistency: 'suspended' });
    } finally {
      await patch('active');
    }
  });
});
