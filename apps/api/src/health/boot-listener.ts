import { requestIdFrom } from '@lib/observability';
import { createServer } from 'node:http';
import { problem, PROBLEM_CONTENT_TYPE } from '../common/problem';
import type { HealthDto, ReadinessDto } from './health.dto';

/** Closes the boot listener and its connections; resolves once the port is free for the application. */
export type ReleasePort = () => Promise<void>;

/**
 * Holds the API's port while the application boots (the embedded database starting, the control table waited for
 * through up to a minute of retries while DynamoDB comes up), so that probes get an answer rather than a refused
 * connection: `/health/live` 200 (the process is up and booting: a liveness probe must not restart it), every other
 * path 503 with `Retry-After`, `/health/ready` with the readiness body. Every response closes its connection, so
 * releasing the port waits for nothing. Port 0 (any free port) is not held: the application's would differ.
 */
export async function holdPortWhileBooting(port: number, host: string): Promise<ReleasePort | undefined> {
  if (port === 0) return undefined;
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    const requestId = requestIdFrom(undefined);
    const headers = { 'cache-control': 'no-store', connection: 'close', 'x-request-id': requestId };
    if (req.method === 'GET' && path === '/health/live') {
      const body: HealthDto = { status: 'ok' };
      res.writeHead(200, { ...headers, 'content-type': 'application/json' }).end(JSON.stringify(body));
    } else if (req.method === 'GET' && path === '/health/ready') {
      const body: ReadinessDto = { status: 'unavailable', checks: { boot: 'starting' } };
      res.writeHead(503, { ...headers, 'retry-after': '1', 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    } else {
      const body = problem(503, 'starting; retry shortly', path, requestId);
      res.writeHead(503, { ...headers, 'retry-after': '1', 'content-type': PROBLEM_CONTENT_TYPE });
      res.end(JSON.stringify(body));
    }
  });
  await new Promise<void>((listening, failed) => {
    server.once('error', failed);
    server.listen(port, host, () => {
      server.off('error', failed);
      listening();
    });
  });
  return () =>
    new Promise<void>((closed) => {
      server.close(() => closed());
      server.closeAllConnections();
    });
}
