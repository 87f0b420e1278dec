/**
 * An HTTP proxy in front of DynamoDB Local that can hold back chosen responses: the request reaches DynamoDB
 * and is applied, but its answer arrives after the API's timeout (a "slow DynamoDB", or a lost response).
 * DynamoDB Local's own pause (SIGSTOP) delays requests before they are applied; this delays what comes after.
 */
import { Agent, createServer, request as httpRequest, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface ProxiedCall {
  /** The DynamoDB operation (X-Amz-Target without the service prefix), e.g. PutItem. */
  operation: string;
  body: Record<string, unknown>;
}

/** Returns how long to hold the response back (ms), or 0 to pass it through at once. */
export type DelayRule = (call: ProxiedCall) => number;

export interface SlowDynamoProxy {
  readonly url: string;
  /** Replaceable at any time. */
  rule: DelayRule;
  /** Calls whose responses were held back, in arrival order. */
  readonly delayed: ProxiedCall[];
  close(): Promise<void>;
}

export async function startSlowDynamoProxy(upstream: string): Promise<SlowDynamoProxy> {
  const agent = new Agent({ keepAlive: true });
  const timers = new Set<NodeJS.Timeout>();
  const target = new URL(upstream);
  const proxy = {
    url: '',
    rule: (() => 0) as DelayRule,
    delayed: [] as ProxiedCall[],
    close: async () => {
      for (const t of timers) clearTimeout(t);
      server.closeAllConnections();
      agent.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks);
      const operation = String(req.headers['x-amz-target'] ?? '').replace(/^DynamoDB_\d+\./, '');
      let body: Record<string, unknown> = {};
      try {
        body = JSON.parse(raw.toString('utf8')) as Record<string, unknown>;
      } catch {
        // not JSON: passed through as is
      }
      const delay = proxy.rule({ operation, body });
      if (delay > 0) proxy.delayed.push({ operation, body });
      const headers: IncomingHttpHeaders = { ...req.headers, host: target.host };
      const up = httpRequest(
        { host: target.hostname, port: target.port, path: req.url, method: req.method, headers, agent },
        (upRes) => {
          const parts: Buffer[] = [];
          upRes.on('data', (c: Buffer) => parts.push(c));
          upRes.on('end', () => {
            const send = () => {
              if (res.destroyed) return;
              res.writeHead(upRes.statusCode ?? 502, upRes.headers);
              res.end(Buffer.concat(parts));
            };
            if (delay <= 0) return send();
            const timer = setTimeout(() => {
              timers.delete(timer);
              send();
            }, delay);
            timers.add(timer);
          });
        },
      );
      up.on('error', () => res.destroy());
      up.end(raw);
    });
    res.on('error', () => undefined);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  proxy.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return proxy;
}
