import { tmpdir } from 'node:os';
import { CRASH_POINTS, FaultHooks } from './fault-hooks';
import { loadConfig } from './load-config';

const base = {
  NODE_ENV: 'test',
  JWT_SECRET: 's'.repeat(40),
  BOOTSTRAP_OPERATOR_EMAIL: 'op@example.com',
  BOOTSTRAP_OPERATOR_PASSWORD: 'a long enough password',
};

describe('FaultHooks', () => {
  let kill: jest.SpyInstance;
  beforeEach(() => {
    // The real kill would end the test run: record the calls instead.
    kill = jest.spyOn(process, 'kill').mockImplementation(() => true);
  });
  afterEach(() => kill.mockRestore());

  it('does nothing at any point when no crash point is configured', () => {
    const hooks = new FaultHooks(loadConfig(base, tmpdir()));
    for (const point of CRASH_POINTS) hooks.reached(point);
    expect(kill).not.toHaveBeenCalled();
  });

  it('kills this process (SIGKILL) at the configured point, and only there', () => {
    const hooks = new FaultHooks(loadConfig({ ...base, TEST_CRASH_POINT: 'after-tenant-roles' }, tmpdir()));
    hooks.reached('after-tenant-record');
    hooks.reached('after-tenant-table');
    hooks.reached('after-user-message');
    expect(kill).not.toHaveBeenCalled();
    hooks.reached('after-tenant-roles');
    expect(kill.mock.calls).toEqual([[process.pid, 'SIGKILL']]);
  });
});
