import type { MetricsService } from '@lib/observability';
import { requestIdFrom } from '@lib/observability';
import { RequestContext, type RequestStore } from '@lib/tenancy';
import { problem, PROBLEM_CONTENT_TYPE } from './problem';
import type { FastifyInstance } from 'fastify';
import type { IncomingMessage } from 'node:http';
import type { Logger as Pino } from 'pino';

const STORE = Symbol('chat-platform.request-store');
type WithStore = IncomingMessage & { [STORE]?: RequestStore };

/** Fastify's request id: the caller's X-Request-Id when well-formed, otherwise a new ULID. */
export function genReqId(req: IncomingMessage): string {
  return requestIdFrom(req.headers['x-request-id']);
}

/** The fields every log line written inside a request carries (pino's mixin reads them from the ALS store). */
export function logContext(): Record<string, unknown> | undefined {
  const store = RequestContext.current();
  return store && { requestId: store.requestId, tenantId: store.tenant?.id, userId: store.caller?.id };
}

/** Health probes and scrapes are not access-logged (they would drown the rest). */
const QUIET_PREFIXES = ['/health/', '/metrics'];

/**
 * Request-level plumbing that must run for every request, routed or not: request id and no-store headers, the
 * AsyncLocalStorage scope (entered after body parsing, so that it holds through guards and handler),
 * HTTP metrics by route template, and one access log line per request (info; error for 5xx). (Errors
 * Fastify raises before Nest runs, such as body parsing, reach the global ProblemFilter through Nest's own
 * Fastify error handler.)
 */
export function registerHttpHooks(
  fastify: FastifyInstance,
  metrics: MetricsService,
  log: Pino,
  isShuttingDown: () => boolean,
  isClosing: () => boolean,
): void {
  const infoEnabled = log.isLevelEnabled('info');
  fastify.addHook('onRequest', (request, reply, done) => {
    (request.raw as WithStore)[STORE] = { requestId: request.id };
    // No response of this API may be stored by a browser or a proxy: they carry tenant data and tokens (OWASP
    // REST Security Cheat Sheet). The SSE route replaces it with `no-cache, no-transform`.
    void reply.header('x-request-id', request.id).header('cache-control', 'no-store');
    if (isClosing()) {
      // The listener is closing; a request still arriving on an open connection gets a proper answer.
      void reply
        .status(503)
        .header('retry-after', '1')
        .header('connection', 'close')
        .header('content-type', PROBLEM_CONTENT_TYPE)
        .send(problem(503, 'shutting down; retry on another instance', request.url, request.id));
      return;
    }
    done();
  });
  fastify.addHook('preHandler', (request, _reply, done) => {
    const store = (request.raw as WithStore)[STORE] ?? { requestId: request.id };
    RequestContext.run(store, done);
  });
  // While draining after SIGTERM, ask keep-alive clients to reconnect (to another instance).
  fastify.addHook('onSend', (_request, reply, payload, done) => {
    if (isShuttingDown()) void reply.header('connection', 'close');
    done(null, payload);
  });
  fastify.addHook('onResponse', (request, reply, done) => {
    metrics.observeHttp(
      request.method,
      request.routeOptions.url ?? 'unmatched',
      reply.statusCode,
      reply.elapsedTime / 1000,
    );
    const status = reply.statusCode;
    if ((infoEnabled || status >= 500) && !QUIET_PREFIXES.some((p) => request.url.startsWith(p))) {
      const store = (request.raw as WithStore)[STORE];
      const ms = reply.elapsedTime;
      log[status >= 500 ? 'error' : 'info'](
        {
          requestId: request.id,
          tenantId: store?.tenant?.id,
          userId: store?.caller?.id,
          req: { id: request.id, method: request.method, url: request.url },
          res: { statusCode: status },
          responseTime: Math.round(ms * 10) / 10,
        },
        `${request.method} ${request.url} ${status} ${Math.round(ms)}ms`,
      );
    }
    done();
  });
}
