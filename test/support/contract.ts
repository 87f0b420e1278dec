import Ajv, { type ValidateFunction } from 'ajv';
import addFormats from 'ajv-formats';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';

interface MediaType {
  schema?: object;
  'x-sse-events'?: Record<string, object>;
}

interface Operation {
  operationId?: string;
  responses?: Record<string, { content?: Record<string, MediaType> }>;
}

/** One Server-Sent Event as the stream carries it. */
export interface SseEvent {
  event: string;
  id?: string;
  data: string;
}

/** Splits a `text/event-stream` body into its events (comments and retry lines are skipped). */
export function parseSse(text: string): SseEvent[] {
  const events: SseEvent[] = [];
  for (const block of text.split(/\r?\n\r?\n/)) {
    let event = 'message';
    let id: string | undefined;
    const data: string[] = [];
    for (const line of block.split(/\r?\n/)) {
      const colon = line.indexOf(':');
      if (colon === 0 || line === '') continue;
      const field = colon < 0 ? line : line.slice(0, colon);
      const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
      if (field === 'event') event = value;
      else if (field === 'id') id = value;
      else if (field === 'data') data.push(value);
    }
    if (data.length > 0) events.push({ event, id, data: data.join('\n') });
  }
  return events;
}

/** RFC 9457 problem body as the API sends it; nothing else may appear in it. */
const PROBLEM_SCHEMA = {
  type: 'object',
  additionalProperties: false,
  required: ['type', 'title', 'status', 'instance', 'requestId'],
  properties: {
    type: { type: 'string' },
    title: { type: 'string' },
    status: { type: 'integer', minimum: 400, maximum: 599 },
    detail: { type: 'string' },
    instance: { type: 'string' },
    requestId: { type: 'string' },
    errors: {
      type: 'array',
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['field', 'message'],
        properties: { field: { type: 'string' }, message: { type: 'string' } },
      },
    },
  },
};

/** Every object schema closed: a property not in the schema is a leak. */
function strict(schema: unknown): unknown {
  if (Array.isArray(schema)) return schema.map(strict);
  if (!schema || typeof schema !== 'object') return schema;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(schema)) {
    out[k] = k === '$ref' && typeof v === 'string' ? v.replace('#/components', 'openapi#/components') : strict(v);
  }
  if ((out.type === 'object' || out.properties) && out.additionalProperties === undefined)
    out.additionalProperties = false;
  return out;
}

/** Paths outside the document: the document itself and the Prometheus scrape (text, excluded from it). */
const UNDOCUMENTED_PREFIXES = ['/docs', '/metrics'];

/**
 * Checks e2e responses against the checked-in openapi.json, extra properties forbidden: the status must be one the
 * operation documents (problem responses included), the content type one documented for that status, the body valid
 * against its schema (problems also against the stricter PROBLEM_SCHEMA), and each event of a `text/event-stream`
 * against the schema its name has in the media type's `x-sse-events`, with an `id:`. Installed by the supertest wrapper
 * (test/support/validating-supertest.ts) on every request the e2e specs make.
 */
export class ContractChecker {
  private readonly ajv = new Ajv({ strict: false, allErrors: true });
  private readonly routes: Array<{ method: string; pattern: RegExp; template: string; op: Operation }> = [];
  private readonly validators = new Map<string, ValidateFunction>();
  private readonly problem: ValidateFunction;

  constructor(file = resolve(__dirname, '../../openapi.json')) {
    addFormats(this.ajv);
    const doc = JSON.parse(readFileSync(file, 'utf8')) as {
      paths: Record<string, Record<string, Operation>>;
      components: object;
    };
    this.ajv.addSchema({ $id: 'openapi', components: strict(doc.components) });
    this.problem = this.ajv.compile(PROBLEM_SCHEMA);
    for (const [template, methods] of Object.entries(doc.paths)) {
      const pattern = new RegExp(`^${template.replace(/\{[^}]+\}/g, '[^/]+')}$`);
      for (const [method, op] of Object.entries(methods)) this.routes.push({ method, pattern, template, op });
    }
  }

  /** Throws with the violations when the response breaks the contract (`text`: the raw body of a stream). */
  check(
    method: string,
    url: string,
    status: number,
    contentType: string | undefined,
    body: unknown,
    text?: string,
  ): void {
    const type = (contentType ?? '').split(';')[0].trim();
    const path = new URL(url, 'http://x').pathname;
    if (UNDOCUMENTED_PREFIXES.some((p) => path === p || path.startsWith(`${p}/`) || path.startsWith(`${p}-`))) return;
    const route = this.routes.find((r) => r.method === method.toLowerCase() && r.pattern.test(path));
    if (!route) {
      // An unknown route (or method) is the API's 404 problem, unless its body or headers were refused first
      // (Fastify parses the body before the not-found handler runs: 400, 413, 415; Node's parser: 400, 431).
      if (type === 'application/problem+json' && [400, 404, 413, 415, 431].includes(status)) {
        return this.checkProblem(body, status, `${method} ${path} ${status} problem`);
      }
      throw new Error(`contract: ${method} ${path} is not in openapi.json (answered ${status} ${type})`);
    }
    const where = `${method} ${route.template} ${status}`;
    const response = route.op.responses?.[String(status)];
    if (!response)
      throw new Error(
        `contract: ${where} (${type || 'no body'}): openapi.json does not document status ${status} for ${route.op.operationId}`,
      );
    if (!type) return;
    const media = response.content?.[type];
    if (!media) throw new Error(`contract: ${where} answered ${type}, which openapi.json does not document there`);
    if (type === 'application/problem+json') return this.checkProblem(body, status, `${where} problem`);
    if (type === 'text/event-stream') return this.checkStream(media, text ?? '', where);
    if (type !== 'application/json' || !media.schema) return;
    this.assert(this.validator(where, media.schema), body, where);
  }

  private checkProblem(body: unknown, status: number, what: string): void {
    this.assert(this.problem, body, what);
    if ((body as { status?: unknown }).status !== status)
      throw new Error(`contract: ${what}: the body's status is not the response's`);
  }

  private checkStream(media: MediaType, text: string, where: string): void {
    const documented = media['x-sse-events'];
    if (!documented) throw new Error(`contract: ${where}: text/event-stream without x-sse-events in openapi.json`);
    for (const [i, event] of parseSse(text).entries()) {
      const schema = documented[event.event];
      if (!schema) throw new Error(`contract: ${where}: event ${i} \`${event.event}\` is not in x-sse-events`);
      // Every event carries an id, so that a client resumes from any of them with Last-Event-ID (docs/streaming.md).
      if (event.id === undefined) throw new Error(`contract: ${where}: event ${i} \`${event.event}\` has no id`);
      let data: unknown;
      try {
        data = JSON.parse(event.data);
      } catch {
        throw new Error(`contract: ${where}: event ${i} \`${event.event}\` carries data that is not JSON`);
      }
      this.assert(this.validator(`${where} event ${event.event}`, schema), data, `${where} event ${event.event}`);
    }
  }

  private validator(key: string, schema: object): ValidateFunction {
    let validate = this.validators.get(key);
    if (!validate) {
      validate = this.ajv.compile(strict(schema) as object);
      this.validators.set(key, validate);
    }
    return validate;
  }

  private assert(validate: ValidateFunction, body: unknown, what: string): void {
    if (!validate(body)) {
      throw new Error(
        `contract: ${what} does not match openapi.json: ${this.ajv.errorsText(validate.errors)} — body ${JSON.stringify(body).slice(0, 500)}`,
      );
    }
  }
}
