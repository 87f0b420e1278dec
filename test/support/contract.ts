import Ajv, { type ValidateFunction } from 'ajv';
import addFormats from 'ajv-formats';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';

interface Operation {
  responses?: Record<string, { content?: Record<string, { schema?: object }> }>;
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

/**
 * Checks e2e responses against the checked-in openapi.json, extra properties forbidden. Installed by the
 * supertest wrapper (test/support/validating-supertest.ts) on every request the e2e specs make.
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

  /** Throws with the violations when the response breaks the contract. */
  check(method: string, url: string, status: number, contentType: string | undefined, body: unknown): void {
    const type = (contentType ?? '').split(';')[0].trim();
    if (type === 'application/problem+json')
      return this.assert(this.problem, body, `${method} ${url} ${status} problem`);
    if (type !== 'application/json') return;
    const path = new URL(url, 'http://x').pathname;
    if (path.startsWith('/docs')) return; // the OpenAPI document itself
    const route = this.routes.find((r) => r.method === method.toLowerCase() && r.pattern.test(path));
    if (!route) throw new Error(`contract: ${method} ${path} is not in openapi.json`);
    const schema = route.op.responses?.[String(status)]?.content?.['application/json']?.schema;
    if (!schema)
      throw new Error(
        `contract: ${method} ${route.template} answered ${status} with JSON, which openapi.json does not document`,
      );
    const key = `${method} ${route.template} ${status}`;
    let validate = this.validators.get(key);
    if (!validate) {
      validate = this.ajv.compile(strict(schema) as object);
      this.validators.set(key, validate);
    }
    this.assert(validate, body, key);
  }

  private assert(validate: ValidateFunction, body: unknown, what: string): void {
    if (!validate(body)) {
      throw new Error(
        `contract: ${what} does not match openapi.json: ${this.ajv.errorsText(validate.errors)} — body ${JSON.stringify(body).slice(0, 500)}`,
      );
    }
  }
}
