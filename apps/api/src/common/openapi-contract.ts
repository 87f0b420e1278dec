import { applyDecorators } from '@nestjs/common';
import { ApiResponse, type OpenAPIObject, type SwaggerDocumentOptions } from '@nestjs/swagger';
import type {
  OperationObject,
  ParameterObject,
  ReferenceObject,
  ResponseObject,
  SchemaObject,
} from '@nestjs/swagger/dist/interfaces/open-api-spec.interface';
import { PROBLEM_CONTENT_TYPE } from './problem';

/**
 * The document's extension on a `text/event-stream` media type: each event name the stream sends, with the
 * schema of its `data` (JSON). Every event also carries an `id:` line; the contract test checks each event.
 */
export const SSE_EVENTS = 'x-sse-events';

const PROBLEM_REF = { $ref: '#/components/schemas/ProblemDto' };

/**
 * Documents a Server-Sent Events response (`status`, 200 unless given) and the events it sends:
 * `{ 'message.created': { $ref: getSchemaPath(MessageDto) }, ... }`.
 */
export function ApiEventStream(
  events: Record<string, SchemaObject | ReferenceObject>,
  description = 'Server-Sent Events (`event:`, `id:`, `data:` JSON); the events are listed in x-sse-events',
  status = 200,
): MethodDecorator {
  return applyDecorators(
    ApiResponse({
      status,
      description,
      content: {
        'text/event-stream': { schema: { type: 'string' }, [SSE_EVENTS]: events } as Record<string, unknown>,
      },
    }),
  );
}

/** The reply stream's events, for a route that produces `text/event-stream` without documenting its events. */
const REPLY_STREAM_EVENTS: Record<string, SchemaObject | ReferenceObject> = {
  'message.created': { $ref: '#/components/schemas/MessageDto' },
  delta: {
    type: 'object',
    required: ['text'],
    properties: { text: { type: 'string' } },
    additionalProperties: false,
  },
  'message.completed': { $ref: '#/components/schemas/MessageDto' },
  error: PROBLEM_REF,
};

/**
 * Problems the shared decorators cannot see from a route's shape, by operationId (domain rules of chats); they
 * take precedence over the shared descriptions of the same status.
 */
const OPERATION_PROBLEMS: Record<string, Array<[number, string]>> = {
  postMessage: [
    [
      409,
      'The first request with this Idempotency-Key is still storing its messages (a retry after that attaches to ' +
        "its reply: 202, or its events with SSE), or this request outlived the key's lease and a retry took its " +
        'exchange over',
    ],
    [429, 'Message rate limit (with Retry-After) or token quota exceeded (`detail: "quota exceeded"`)'],
    [
      502,
      'The LLM provider failed; the user message is stored and the reply is stored as `failed` (a retry with the ' +
        'same Idempotency-Key generates it again)',
    ],
    [504, 'The LLM provider did not answer within LLM_TIMEOUT_MS; the reply is stored as `failed`'],
  ],
};

const RETRY_AFTER = {
  'Retry-After': {
    description: 'Seconds to wait before retrying (absent on the quota 429, which lasts until the month ends)',
    schema: { type: 'integer', format: 'int32', minimum: 0, maximum: 86400 },
  },
};

/** Problems every operation can answer, whatever it does. */
const EVERY_OPERATION: Array<[number, string]> = [
  [400, 'Invalid input: the problem names each field'],
  [431, 'Request header fields too large'],
  [500, 'Internal error (logged with the request id)'],
  [503, 'DynamoDB unavailable or throttling, or the instance is shutting down; retry after Retry-After seconds'],
];

/** Problems of an operation whose method carries a body (Fastify parses one on these, even on DELETE). */
const BODY_METHODS = new Set(['post', 'put', 'patch', 'delete']);
const BODY_PROBLEMS: Array<[number, string]> = [
  [413, 'Body over BODY_LIMIT_BYTES (or a field over its own size limit)'],
  [415, 'Body that is not application/json'],
];

const SINGULAR: Record<string, string> = { Usage: 'Usage', Health: 'Health' };

/**
 * operationIds a generated client calls: `createTenant`, `listUsers`, `getRole`, `updateChat`, `deleteUser` for the
 * CRUD handler names, the handler's own name otherwise (`postMessage`, `listMessages`); `@ApiOperation({
 * operationId })` names the rest.
 */
export function operationIdFactory(controllerKey: string, methodKey: string): string {
  const plural = controllerKey.replace(/Controller$/, '');
  const singular = SINGULAR[plural] ?? plural.replace(/s$/, '');
  if (methodKey === 'list') return `list${plural}`;
  if (['create', 'get', 'update', 'delete'].includes(methodKey)) return `${methodKey}${singular}`;
  return methodKey;
}

export const OPENAPI_DOCUMENT_OPTIONS: SwaggerDocumentOptions = { operationIdFactory };

/**
 * Adds the problem body to `status` (beside a body the route documents for it, such as readiness's 503). An
 * operation's own description (`specific`) goes before the one a shared decorator gave the status: both causes
 * answer with it.
 */
function addProblem(op: OperationObject, status: number, description: string, specific = false): void {
  const key = String(status);
  const existing = op.responses[key] as ResponseObject | undefined;
  if (!existing) {
    op.responses[key] = { description, content: { [PROBLEM_CONTENT_TYPE]: { schema: PROBLEM_REF } } };
    return;
  }
  existing.content ??= {};
  existing.content[PROBLEM_CONTENT_TYPE] ??= { schema: PROBLEM_REF };
  if (!existing.description) existing.description = description;
  else if (specific && !existing.description.includes(description)) {
    existing.description = `${description}; or: ${existing.description}`;
  }
}

function headerNames(op: OperationObject): Set<string> {
  return new Set(
    (op.parameters ?? [])
      .filter((p): p is ParameterObject => 'in' in p && p.in === 'header')
      .map((p) => p.name.toLowerCase()),
  );
}

/** Closes every object schema reachable from `schema`: the validation pipe refuses unknown properties. */
function closeRequestSchema(doc: OpenAPIObject, schema: SchemaObject | ReferenceObject, seen: Set<string>): void {
  if ('$ref' in schema) {
    const name = schema.$ref.split('/').pop()!;
    if (seen.has(name)) return;
    seen.add(name);
    const target = doc.components?.schemas?.[name];
    if (target) closeRequestSchema(doc, target, seen);
    return;
  }
  if (schema.type === 'object' || schema.properties) schema.additionalProperties ??= false;
  for (const child of Object.values(schema.properties ?? {})) closeRequestSchema(doc, child, seen);
  if (schema.items) closeRequestSchema(doc, schema.items, seen);
  for (const part of [...(schema.allOf ?? []), ...(schema.oneOf ?? []), ...(schema.anyOf ?? [])])
    closeRequestSchema(doc, part, seen);
}

/** A route that produces text/event-stream through `@ApiProduces`: its stream is a 200 with the reply events. */
function documentEventStream(op: OperationObject): void {
  let produces = false;
  let documented = false;
  for (const [status, response] of Object.entries(op.responses)) {
    const content = (response as ResponseObject).content;
    const stream = content?.['text/event-stream'] as Record<string, unknown> | undefined;
    if (!content || !stream) continue;
    if (stream[SSE_EVENTS]) documented = true;
    else if (status !== '200' || Object.keys(content).length > 1) {
      delete content['text/event-stream'];
      produces = true;
    }
  }
  if (produces && !documented && !op.responses['200']) {
    op.responses['200'] = {
      description: 'With `Accept: text/event-stream`: Server-Sent Events (`event:`, `id:`, `data:` JSON)',
      content: { 'text/event-stream': { schema: { type: 'string' }, [SSE_EVENTS]: REPLY_STREAM_EVENTS } as object },
    };
  }
}

/**
 * Completes the generated document with what the shared plumbing answers for every route of a kind, so that
 * no route has to repeat it: the problems of every operation (400, 431, 500, 503), of body-taking methods (413,
 * 415), of `If-Match` (412) and `Idempotency-Key` (409, 422); `Retry-After` on 429 and 503 problems; closed
 * request schemas (unknown properties → 400); the event stream of SSE routes.
 */
export function completeOpenApiDocument(doc: OpenAPIObject): OpenAPIObject {
  const closed = new Set<string>();
  for (const methods of Object.values(doc.paths)) {
    for (const [method, op] of Object.entries(methods) as Array<[string, OperationObject]>) {
      if (!op || typeof op !== 'object' || !('responses' in op)) continue;
      documentEventStream(op);
      for (const [status, description] of OPERATION_PROBLEMS[op.operationId ?? ''] ?? [])
        addProblem(op, status, description, true);
      for (const [status, description] of EVERY_OPERATION) addProblem(op, status, description);
      if (BODY_METHODS.has(method))
        for (const [status, description] of BODY_PROBLEMS) addProblem(op, status, description);
      if ((op.parameters ?? []).some((p) => 'in' in p && p.in === 'path'))
        addProblem(op, 414, 'A path parameter over the router limit (100 characters)');
      const headers = headerNames(op);
      if (headers.has('if-match')) {
        addProblem(op, 412, 'If-Match does not match the current ETag (strong comparison)');
        addProblem(op, 409, 'A concurrent change that kept racing this one; retry');
      }
      if (headers.has('idempotency-key')) {
        addProblem(op, 409, 'A request with this Idempotency-Key is still running, or a concurrent change');
        addProblem(op, 422, 'Idempotency-Key reused with another request');
      }
      for (const status of ['429', '503']) {
        const response = op.responses[status] as ResponseObject | undefined;
        if (response?.content?.[PROBLEM_CONTENT_TYPE]) response.headers = { ...RETRY_AFTER, ...response.headers };
      }
      const body =
        op.requestBody && 'content' in op.requestBody ? op.requestBody.content['application/json'] : undefined;
      if (body?.schema) closeRequestSchema(doc, body.schema, closed);
    }
  }
  return doc;
}
