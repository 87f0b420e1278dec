import type { Params } from 'nestjs-pino';
import type { IncomingMessage } from 'node:http';

/** Paths of values that never reach a log line. */
export const REDACTED_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'req.headers["x-api-key"]',
  'res.headers["set-cookie"]',
  '*.password',
  '*.refreshToken',
  '*.accessToken',
  '*.apiKey',
  '*.secret',
];

export interface LogContextSource {
  /** Fields added to every request log line (tenant id, user id). */
  (req: IncomingMessage): Record<string, unknown>;
}

/** pino-http settings: JSON lines, request id from the Fastify request, secrets redacted. */
export function loggerParams(level: string, contextOf: LogContextSource): Params {
  return {
    pinoHttp: {
      level,
      redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
      genReqId: (req) => (req as IncomingMessage & { id?: string }).id ?? 'unknown',
      customProps: (req) => contextOf(req),
      autoLogging: {
        ignore: (req) => {
          const url = req.url ?? '';
          return url.startsWith('/health/') || url.startsWith('/metrics');
        },
      },
      serializers: {
        req: (req: { id: string; method: string; url: string }) => ({ id: req.id, method: req.method, url: req.url }),
        res: (res: { statusCode: number }) => ({ statusCode: res.statusCode }),
      },
      customSuccessMessage: (req, res, ms) => `${req.method} ${req.url} ${res.statusCode} ${Math.round(ms)}ms`,
      customErrorMessage: (req, res) => `${req.method} ${req.url} ${res.statusCode}`,
    },
  };
}
