import { loadConfig } from '@lib/config';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { developmentSummary } from './development-summary';

describe('the development start summary', () => {
  let dataDir: string;
  beforeEach(() => {
    dataDir = mkdtempSync(join(tmpdir(), 'dev-summary-'));
  });
  afterEach(() => rmSync(dataDir, { recursive: true, force: true }));

  const env = () => ({ NODE_ENV: 'development', DATA_DIR: dataDir, HOST: '0.0.0.0' });

  it('shows the generated operator password on the start that generated it, then only where it is kept', () => {
    const first = loadConfig(env());
    const password = first.bootstrapOperator.password;
    const shown = developmentSummary(first, 3000, 41234, env());
    expect(shown).toContain('http://localhost:3000/docs');
    expect(shown).toContain(`embedded DynamoDB Local on port 41234, data in ${join(dataDir, 'dynamodb')}`);
    expect(shown).toContain(`operator@localhost.test / ${password}`);

    const second = developmentSummary(loadConfig(env()), 3000, 41234, env());
    expect(second).not.toContain(password);
    expect(second).toContain(`password in ${join(dataDir, 'dev-secrets.json')}`);
  });

  it('never prints a password that comes from the environment', () => {
    const withPassword = { ...env(), BOOTSTRAP_OPERATOR_PASSWORD: 'a-password-from-the-env' };
    const shown = developmentSummary(loadConfig(withPassword), 3000, undefined, withPassword);
    expect(shown).not.toContain('a-password-from-the-env');
    expect(shown).toContain('password from BOOTSTRAP_OPERATOR_PASSWORD');
  });
});
