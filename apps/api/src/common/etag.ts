import { DomainError } from '@lib/observability';
import type { FastifyReply } from 'fastify';

/** Sets `ETag: "<version>"` on a single-resource response. */
export function setEtag(reply: FastifyReply, version: number): void {
  void reply.header('etag', `"${version}"`);
}

/** The version an `If-Match` header names, undefined when absent; a malformed header → 400. */
export function parseIfMatch(header: string | undefined): number | undefined {
  if (header === undefined) return undefined;
  const match = /^(?:W\/)?"(\d{1,12})"$/.exec(header.trim());
  if (!match)
    throw new DomainError('invalid_input', 'If-Match must be an ETag such as "3"', {
      errors: [{ field: 'If-Match', message: 'malformed ETag' }],
    });
  return Number(match[1]);
}
