import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';

const ROOT = join(__dirname, '../../../..');

/**
 * The layer itself (the entity declarations and the tenant-table handle), and the control table's key builders
 * (its operator sessions share a prefix with tenant sessions).
 */
const LAYER = [
  'libs/dynamo/src/tenant-entities.ts',
  'libs/tenancy/src/data/tenant-table.ts',
  'libs/dynamo/src/control-table.ts',
];

/**
 * Code that names tables other than a tenant's (the control table, the rate-limit table) or manages tables
 * (creation, migrations, the SDK clients): `TableName` is allowed there, tenant keys are not.
 */
const OTHER_TABLES = [
  'libs/dynamo/src/table-manager.ts',
  'libs/dynamo/src/table-definitions.ts',
  'libs/dynamo/src/dynamo-clients.ts',
  'libs/dynamo/src/transact.ts',
  'libs/dynamo/src/instrumentation.ts',
  'libs/tenancy/src/change-feed.ts',
  'libs/tenancy/src/tenant-registry.ts',
  'apps/api/src/tenants/tenants.repository.ts',
  'apps/api/src/operators/operators.repository.ts',
  'apps/api/src/auth/login-throttle.ts',
  'apps/api/src/chats/message-rate-limiter.ts',
];

/** A tenant-table key spelled in a string or template literal: a partition prefix or a fixed sort key. */
const TENANT_KEY =
  /['`](?:USER|CHAT|MSG|ROLE|ROLENAME|EMAIL|SESSION|USAGE|IDEMP)#|['`](?:USER|USERS|ROLE|ROLES|CHAT|EMAIL|ROLENAME|IDEMP)['`]/;

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sources(path);
    return entry.name.endsWith('.ts') && !entry.name.endsWith('.spec.ts') ? [path] : [];
  });
}

/** Source without comments (a comment may name a key to explain it). */
const code = (text: string) => text.replace(/\/\*[\s\S]*?\*\//g, '').replace(/(^|[^:'"`])\/\/.*$/gm, '$1');

/** Every violation of the data layer's rule in the apps and libs: `file:line  text`. */
export function dataLayerViolations(root = ROOT): string[] {
  const files = [...sources(join(root, 'apps')), ...sources(join(root, 'libs'))];
  return files.flatMap((file) => {
    const name = relative(root, file);
    if (LAYER.includes(name)) return [];
    const lines = code(readFileSync(file, 'utf8')).split('\n');
    return lines.flatMap((line, i) => {
      const found: string[] = [];
      if (/\bTableName\s*:/.test(line) && !OTHER_TABLES.includes(name)) found.push('names a table');
      if (TENANT_KEY.test(line)) found.push('spells a tenant key');
      return found.map((what) => `${name}:${i + 1} ${what}: ${line.trim()}`);
    });
  });
}

describe('the tenant data layer is the only way to a tenant table', () => {
  it('no code outside the layer names a tenant table or spells a tenant key', () => {
    expect(dataLayerViolations()).toEqual([]);
  });

  it('finds a violation when one is added', () => {
    const { mkdtempSync, mkdirSync, writeFileSync, rmSync } = jest.requireActual<typeof import('node:fs')>('node:fs');
    const { tmpdir } = jest.requireActual<typeof import('node:os')>('node:os');
    const root = mkdtempSync(join(tmpdir(), 'layer-'));
    try {
      mkdirSync(join(root, 'apps/x'), { recursive: true });
      mkdirSync(join(root, 'libs/y'), { recursive: true });
      writeFileSync(
        join(root, 'apps/x/bad.repository.ts'),
        "// 'CHAT' in a comment is fine\nconst input = { TableName: this.tableName, Key: { pk: `CHAT#${id}`, sk: 'CHAT' } };\n",
      );
      writeFileSync(join(root, 'libs/y/ok.ts'), "export const label = 'chat';\n");
      expect(dataLayerViolations(root)).toEqual([
        expect.stringMatching(/^apps\/x\/bad\.repository\.ts:2 names a table/),
        expect.stringMatching(/^apps\/x\/bad\.repository\.ts:2 spells a tenant key/),
      ]);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});
