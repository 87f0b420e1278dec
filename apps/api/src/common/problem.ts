import { requestIdFrom } from '@lib/observability';
import { STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';

export interface ProblemField {
  field: string;
  message: string;
}

/** RFC 9457 problem details, as every error of the API is answered. */
export interface Problem {
  type: string;
  title: string;
  status: number;
  detail?: string;
  instance: string;
  requestId: string;
  errors?: ProblemField[];
}

export const PROBLEM_CONTENT_TYPE = 'application/problem+json';

export function problem(
  status: number,
  detail: string | undefined,
  url: string,
  requestId: string,
  errors?: ProblemField[],
): Problem {
  const body: Problem = {
    type: 'about:blank',
    title: STATUS_CODES[status] ?? 'Error',
    status,
    detail,
    instance: url.split('?')[0],
    requestId,
  };
  if (errors && errors.length > 0) body.errors = errors;
  return body;
}

/**
 * Fastify's `clientErrorHandler`: a request Node's parser refuses before any route sees it (header fields over
 * the limit → 431, a header timeout → 408, malformed HTTP → 400) is answered with a problem body like every other
 * error, on a connection that then closes. The request id is new: the request's own headers were not read.
 */
export function clientErrorProblem(error: Error & { code?: string }, socket: Duplex): void {
  if (error.code === 'ECONNRESET' || socket.destroyed) return;
  const status = error.code === 'HPE_HEADER_OVERFLOW' ? 431 : error.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 408 : 400;
  const requestId = requestIdFrom(undefined);
  const body = JSON.stringify(problem(status, 'the request could not be read', '', requestId));
  if (socket.writable) {
    socket.write(
      `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\ncontent-type: ${PROBLEM_CONTENT_TYPE}\r\n` +
        `content-length: ${Buffer.byteLength(body)}\r\nx-request-id: ${requestId}\r\ncache-control: no-store\r\n` +
        `connection: close\r\n\r\n${body}`,
    );
  }
  socket.destroy(error);
}
