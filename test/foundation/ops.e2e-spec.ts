import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import request from 'supertest';
import { DynamoDbLocal } from '../../libs/dynamo/src/local';
import { startApp, type TestApp } from '../support/harness';
import { loginOperator } from '../support/tokens';

function promtool(): string | undefined {
  const found = spawnSync('sh', ['-c', 'command -v promtool'], { encoding: 'utf8' });
  return found.status === 0 ? found.stdout.trim() : undefined;
}

describe('health and metrics', () => {
  let t: TestApp;
  const metricsToken = 'metrics-token-0123456789';
  beforeAll(async () => {
    t = await startApp({ METRICS_TOKEN: metricsToken });
  });
  afterAll(() => t.close());

  it('/health/live and /health/ready answer 200', async () => {
    expect((await request(t.url).get('/health/live').expect(200)).body).toEqual({ status: 'ok' });
    expect((await request(t.url).get('/health/ready').expect(200)).body).toEqual({
      status: 'ok',
      checks: { dynamodb: 'ok', controlTable: 'active' },
    });
  });

  it('/metrics needs METRICS_TOKEN when set', async () => {
    await request(t.url).get('/metrics').expect(401);
    await request(t.url).get('/metrics').set('authorization', 'Bearer wrong-token-wrong-token').expect(401);
    await request(t.url).get('/metrics').set('authorization', `Bearer ${metricsToken}`).expect(200);
  });

  it('exposes HTTP and DynamoDB metrics that promtool accepts', async () => {
    await loginOperator(t.url);
    await request(t.url).get('/v1/nope').expect(404);
    const res = await request(t.url).get('/metrics').set('authorization', `Bearer ${metricsToken}`).expect(200);
    expect(res.headers['content-type']).toContain('text/plain');
    const text = res.text;
    expect(text).toMatch(
      /http_request_duration_seconds_count\{method="POST",route="\/v1\/platform\/auth\/login",status="200"\} [1-9]/,
    );
    expect(text).toMatch(/http_request_duration_seconds_count\{method="GET",route="unmatched",status="404"\} [1-9]/);
    expect(text).toMatch(/dynamodb_request_duration_seconds_count\{operation="GetItem"\} [1-9]/);
    expect(text).toMatch(/dynamodb_consumed_capacity_units_total\{tenant="platform",kind="read"\} [0-9.]+/);
    expect(text).toMatch(/process_resident_memory_bytes \d+/);
    // The event-loop delay monitor has recorded samples by now.
    expect(text).toMatch(/^nodejs_eventloop_lag_p99_seconds (?!0$)[0-9.e-]+$/m);
    const tool = promtool();
    if (!tool) {
      // CI installs promtool (.ci/run); a developer machine without it still gets the checks above.
      if (process.env.CI) throw new Error('promtool is required in CI');
      return;
    }
    const out = spawnSync(tool, ['check', 'metrics'], { input: text, encoding: 'utf8' });
    expect({ status: out.status, output: out.stdout + out.stderr }).toEqual({ status: 0, output: '' });
  });
});

describe('readiness follows DynamoDB', () => {
  let ddb: DynamoDbLocal;
  let t: TestApp;
  let dbPath: string;

  beforeAll(async () => {
    dbPath = mkdtempSync(join(tmpdir(), 'ddb-ready-'));
    ddb = await DynamoDbLocal.start({ dbPath });
    t = await startApp({ DYNAMODB_ENDPOINT: ddb.endpoint, DYNAMODB_TIMEOUT_MS: '500', DYNAMODB_MAX_ATTEMPTS: '1' });
  });
  afterAll(async () => {
    await t?.close();
    await ddb?.stop();
    rmSync(dbPath, { recursive: true, force: true });
  });

  it('turns 503 when DynamoDB hangs, and 200 again when it resumes', async () => {
    await request(t.url).get('/health/ready').expect(200);
    ddb.pause();
    try {
      const started = Date.now();
      const res = await request(t.url).get('/health/ready').expect(503);
      expect(res.body.status).toBe('unavailable');
      expect(Date.now() - started).toBeLessThan(5000);
      // A DynamoDB-backed route fails fast with 503 and Retry-After, not a hang or a 500.
      const login = await request(t.url)
        .post('/v1/platform/auth/login')
        .send({ email: 'x@y.test', password: 'whatever-password' });
      expect(login.status).toBe(503);
      expect(login.headers['retry-after']).toBe('1');
      expect(JSON.stringify(login.body)).not.toMatch(/Timeout|Error|dynamo/i);
    } finally {
      ddb.resume();
    }
    await request(t.url).get('/health/ready').expect(200);
  });

  it('turns 503 when DynamoDB is stopped, and 200 when it is back on the same port with its data', async () => {
    const port = ddb.port;
    await ddb.stop();
    await request(t.url).get('/health/ready').expect(503);
    ddb = await DynamoDbLocal.start({ dbPath, port });
    // Keep-alive sockets to the dead process are dropped by the client; a couple of tries may be needed.
    let status = 0;
    for (let i = 0; i < 20 && status !== 200; i++) {
      status = (await request(t.url).get('/health/ready')).status;
      if (status !== 200) await new Promise((r) => setTimeout(r, 250));
    }
    expect(status).toBe(200);
    // The data survived: the bootstrap operator still logs in.
    await loginOperator(t.url);
  });
});
