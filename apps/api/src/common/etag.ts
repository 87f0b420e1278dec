import { DomainError } from '@lib/observability';
import type { FastifyReply } from 'fastify';

/** Sets `ETag: "<version>"` on a single-resource response. */
export function setEtag(reply: FastifyReply, version: number): void {
  void reply.header('etag', `"${version}"`);
}

/** A created resource: `ETag` of its first version and `Location` of its URL. */
export function setCreated(reply: FastifyReply, location: string, version: number): void {
  setEtag(reply, version);
  void reply.header('location', location);
}

/** Versions start at 1: an `If-Match` that can match no representation asks for this one, and gets 412. */
export const NO_VERSION_MATCHES = 0;

const ENTITY_TAG = /^(W\/)?"([\x21\x23-\x7E]*)"$/;

function malformed(message: string): DomainError {
  return new DomainError('invalid_input', 'If-Match must be "*" or entity tags such as "3"', {
    errors: [{ field: 'If-Match', message }],
  });
}

/**
 * The version an `If-Match` header (RFC 9110 §13.1.1) asks for: undefined when absent or `*` (any current
 * representation: the resource must exist), else the version its one strong entity tag names. Comparison is
 * strong: a weak tag (`W/"3"`) never matches, nor does a tag that is not one of our versions, so those ask for
 * NO_VERSION_MATCHES (412 from the service, after its 404). A list may carry weak tags besides one strong tag;
 * two strong tags, or anything that is not an entity tag, → 400.
 */
export function parseIfMatch(header: string | undefined): number | undefined {
  if (header === undefined) return undefined;
  const value = header.trim();
  if (value === '*') return undefined;
  const tags = value.split(',').map((t) => t.trim());
  let strong: string | undefined;
  for (const tag of tags) {
    const match = ENTITY_TAG.exec(tag);
    if (!match) throw malformed('malformed entity tag');
    if (match[1]) continue;
    if (strong !== undefined) throw malformed('at most one strong entity tag');
    strong = match[2];
  }
  if (strong === undefined || !/^[1-9]\d{0,11}$/.test(strong)) return NO_VERSION_MATCHES;
  return Number(strong);
}

/** OpenAPI `headers` of a single-resource response (`@ApiOkResponse({ type, headers: ETAG_HEADER })`). */
export const ETAG_HEADER = {
  ETag: {
    description: 'The version of the resource, for If-Match (strong)',
    schema: { type: 'string', pattern: '^"[1-9][0-9]*"$', example: '"3"' },
  },
};

/** OpenAPI `headers` of a create's 201: the version and the new resource's URL. */
export const CREATED_HEADERS = {
  ...ETAG_HEADER,
  Location: {
    description: 'The path of the created resource',
    schema: { type: 'string', example: '/v1/users/01J9Z8Q3M5XK6B2N4P7R8S9T0V' },
  },
};

/** The documented `If-Match` request header of a conditional write. */
export const IF_MATCH_HEADER = {
  name: 'If-Match',
  required: false,
  description: 'ETag from a previous read, or `*`; strong comparison (a weak tag never matches) → 412 when stale',
  schema: { type: 'string', maxLength: 200, example: '"3"' },
};
