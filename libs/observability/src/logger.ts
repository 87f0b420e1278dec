import type { LoggerService } from '@nestjs/common';
import pino, { type Logger as Pino, type LevelWithSilent } from 'pino';

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

/** Fields every line written inside a request carries (request id, tenant id, user id). */
export type LogContext = () => Record<string, unknown> | undefined;

/**
 * The process's one pino logger: JSON lines on stdout, secrets redacted, and the request context of the line's
 * async scope (request id, tenant, user) mixed in. There is no per-request child logger: the context comes from
 * the request's AsyncLocalStorage store, read only when a line is actually written.
 */
export function createRootLogger(level: string, context: LogContext): Pino {
  return pino({
    level: level as LevelWithSilent,
    redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
    mixin: () => context() ?? {},
  });
}

type Level = 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal';

/**
 * Nest's own start-up chatter (each module initialized, each route mapped, "starting", "started"): debug, so
 * that a start at the default level shows what matters; LOG_LEVEL=debug shows it again.
 */
const FRAMEWORK_BOOT_CONTEXTS = new Set([
  'InstanceLoader',
  'RoutesResolver',
  'RouterExplorer',
  'NestFactory',
  'NestApplication',
]);

/**
 * Nest's LoggerService on pino. Nest's `Logger` calls arrive as (message, ...params, context): the last
 * parameter is the context (class) name; an object message becomes the line's fields (an Error becomes `err`);
 * Nest's exception handlers call `error(message, stack, context)`, which becomes an `err` with that stack.
 */
export class PinoNestLogger implements LoggerService {
  constructor(readonly pino: Pino) {}

  verbose(message: unknown, ...params: unknown[]): void {
    this.write('trace', message, params);
  }
  debug(message: unknown, ...params: unknown[]): void {
    this.write('debug', message, params);
  }
  log(message: unknown, ...params: unknown[]): void {
    const context = params.at(-1);
    const boot = typeof context === 'string' && FRAMEWORK_BOOT_CONTEXTS.has(context);
    this.write(boot ? 'debug' : 'info', message, params);
  }
  warn(message: unknown, ...params: unknown[]): void {
    this.write('warn', message, params);
  }
  error(message: unknown, ...params: unknown[]): void {
    this.write('error', message, params);
  }
  fatal(message: unknown, ...params: unknown[]): void {
    this.write('fatal', message, params);
  }

  private write(level: Level, message: unknown, params: unknown[]): void {
    if (!this.pino.isLevelEnabled(level)) return;
    const fields: Record<string, unknown> = {};
    const rest = params.slice();
    if (rest.length > 0) fields.context = rest.pop();
    if (message instanceof Error) {
      fields.err = message;
      this.pino[level](fields, ...(rest as [string?]));
    } else if (typeof message === 'object' && message !== null) {
      this.pino[level](Object.assign(fields, message), ...(rest as [string?]));
    } else if (level === 'error' && rest.length === 1 && typeof rest[0] === 'string' && /\n\s*at /.test(rest[0])) {
      const err = new Error(String(message));
      err.stack = rest[0];
      this.pino[level](Object.assign(fields, { err }));
    } else {
      this.pino[level](fields, String(message), ...(rest as []));
    }
  }
}
