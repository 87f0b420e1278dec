import { type ArgumentsHost, Catch, type ExceptionFilter, HttpException, Logger } from '@nestjs/common';
import { InvalidCursorError, isDynamoUnavailable } from '@lib/dynamo';
import { DomainError, type DomainErrorCode } from '@lib/observability';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { problem, PROBLEM_CONTENT_TYPE, type ProblemField } from './problem';

const STATUS_BY_CODE: Record<DomainErrorCode, number> = {
  unauthenticated: 401,
  forbidden: 403,
  tenant_suspended: 403,
  not_found: 404,
  conflict: 409,
  precondition_failed: 412,
  invalid_input: 400,
  rate_limited: 429,
  unavailable: 503,
  payload_too_large: 413,
  unprocessable: 422,
  quota_exceeded: 429,
  upstream_failed: 502,
  upstream_timeout: 504,
};

/** Fastify's own errors (raised before Nest sees the request: body parsing, content type). */
const FASTIFY_STATUS: Record<string, [number, string]> = {
  FST_ERR_CTP_INVALID_MEDIA_TYPE: [415, 'unsupported content type; send application/json'],
  FST_ERR_CTP_BODY_TOO_LARGE: [413, 'request body too large'],
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: [400, 'invalid content length'],
  FST_ERR_CTP_EMPTY_JSON_BODY: [400, 'empty JSON body'],
  FST_ERR_CTP_INVALID_JSON_BODY: [400, 'malformed JSON body'],
  FST_ERR_BAD_URL: [400, 'malformed URL'],
  FST_ERR_MAX_PARAM_LENGTH: [414, 'a path parameter is too long'],
};

interface Rendered {
  status: number;
  detail: string;
  errors?: ProblemField[];
  retryAfter?: number;
}

const logger = new Logger('Errors');

/** Maps any error to a status and a detail that is safe to show (no stack, no DynamoDB names, no table names). */
export function renderError(error: unknown, requestId: string): Rendered {
  if (error instanceof DomainError) {
    return {
      status: STATUS_BY_CODE[error.code],
      detail: error.message,
      errors: error.details.errors,
      retryAfter: error.details.retryAfterSeconds,
    };
  }
  if (error instanceof InvalidCursorError)
    return { status: 400, detail: 'invalid cursor', errors: [{ field: 'cursor', message: 'invalid cursor' }] };
  if (error instanceof HttpException) {
    const status = error.getStatus();
    const response = error.getResponse();
    const message = typeof response === 'string' ? response : (response as { message?: unknown }).message;
    const detail = status === 404 ? 'no such route' : typeof message === 'string' ? message : error.message;
    return { status, detail };
  }
  const fastifyCode = (error as { code?: string }).code;
  if (fastifyCode && FASTIFY_STATUS[fastifyCode]) {
    const [status, detail] = FASTIFY_STATUS[fastifyCode];
    return { status, detail };
  }
  if (error instanceof SyntaxError && (error as { statusCode?: number }).statusCode === 400) {
    return { status: 400, detail: 'malformed JSON body' };
  }
  const statusCode = (error as { statusCode?: number }).statusCode;
  if (statusCode && statusCode >= 400 && statusCode < 500) return { status: statusCode, detail: 'bad request' };
  if (isDynamoUnavailable(error)) {
    logger.warn(`database unavailable (${(error as Error).name}) requestId=${requestId}`);
    return { status: 503, detail: 'service temporarily unavailable; retry later', retryAfter: 1 };
  }
  logger.error({ err: error, requestId }, 'unhandled error');
  return { status: 500, detail: 'internal error' };
}

export function sendProblem(reply: FastifyReply, request: FastifyRequest, error: unknown): void {
  const rendered = renderError(error, request.id);
  if (rendered.retryAfter !== undefined) void reply.header('retry-after', String(rendered.retryAfter));
  void reply
    .status(rendered.status)
    .header('content-type', PROBLEM_CONTENT_TYPE)
    .send(problem(rendered.status, rendered.detail, request.url, request.id, rendered.errors));
}

/**
 * Fastify's `frameworkErrors`: errors of routing (a path parameter over maxParamLength → 414, a malformed URL →
 * 400) are raised before the request hooks run, so the request id and no-store headers are set here.
 */
export function frameworkErrorProblem(error: Error, request: FastifyRequest, reply: FastifyReply): void {
  void reply.header('x-request-id', request.id).header('cache-control', 'no-store');
  sendProblem(reply, request, error);
}

/** The one filter: every error becomes an RFC 9457 problem response. */
@Catch()
export class ProblemFilter implements ExceptionFilter {
  catch(error: unknown, host: ArgumentsHost): void {
    const http = host.switchToHttp();
    sendProblem(http.getResponse<FastifyReply>(), http.getRequest<FastifyRequest>(), error);
  }
}
