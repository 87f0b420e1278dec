import { type PipeTransform, Query } from '@nestjs/common';
import { ApiQuery } from '@nestjs/swagger';
import { DomainError } from '@lib/observability';
import { documented } from './params';

export const MAX_PAGE_SIZE = 100;
export const DEFAULT_PAGE_SIZE = 20;
export const MAX_CURSOR_LENGTH = 2048;

/** A list route's query: `limit` (1..100, default 20), `cursor` (opaque, signed), and the route's filters. */
export type PageQuery<Filters extends Record<string, string> = Record<never, string>> = {
  limit: number;
  cursor?: string;
} & Partial<Filters>;

/** Allowed values of each filter a list route accepts besides `limit` and `cursor` (e.g. `status`). */
type FilterValues = Record<string, readonly string[]>;

const LIMIT = /^[1-9]\d{0,2}$/;

/**
 * Parses the query string of a list route by hand (it runs on the hot message page): the same rules and the same
 * 400 problem, naming each field, as the validation pipe gives for bodies; an unknown parameter is refused, not
 * ignored. Fastify hands over repeated parameters as arrays; those are refused too.
 */
class PageQueryPipe implements PipeTransform<unknown, PageQuery> {
  constructor(private readonly filters: FilterValues) {}

  transform(value: unknown): PageQuery {
    const query = (value ?? {}) as Record<string, unknown>;
    const errors: Array<{ field: string; message: string }> = [];
    const page: Record<string, string | number> = { limit: DEFAULT_PAGE_SIZE };
    for (const key of Object.keys(query)) {
      const raw = query[key];
      if (key === 'limit') {
        const limit = typeof raw === 'string' && LIMIT.test(raw) ? Number(raw) : NaN;
        if (limit >= 1 && limit <= MAX_PAGE_SIZE) page.limit = limit;
        else errors.push({ field: key, message: `limit must be an integer from 1 to ${MAX_PAGE_SIZE}` });
      } else if (key === 'cursor') {
        if (typeof raw === 'string' && raw.length <= MAX_CURSOR_LENGTH) page.cursor = raw;
        else errors.push({ field: key, message: `cursor must be a string of at most ${MAX_CURSOR_LENGTH} characters` });
      } else if (Object.hasOwn(this.filters, key)) {
        const allowed = this.filters[key];
        if (typeof raw === 'string' && allowed.includes(raw)) page[key] = raw;
        else errors.push({ field: key, message: `${key} must be one of: ${allowed.join(', ')}` });
      } else {
        errors.push({ field: key, message: `property ${key} should not exist` });
      }
    }
    if (errors.length > 0) throw new DomainError('invalid_input', 'the request is not valid', { errors });
    return page as PageQuery;
  }
}

/**
 * The query of a list route (`@PageQueryParams() query: PageQuery`), documented in OpenAPI from the same
 * constants the parser checks. `filters` adds enum parameters, e.g. `{ status: TENANT_STATUSES }`.
 */
export function PageQueryParams(filters: FilterValues = {}): ParameterDecorator {
  return documented(
    Query(new PageQueryPipe(filters)),
    ApiQuery({
      name: 'limit',
      required: false,
      schema: { type: 'integer', format: 'int32', minimum: 1, maximum: MAX_PAGE_SIZE, default: DEFAULT_PAGE_SIZE },
    }),
    ApiQuery({
      name: 'cursor',
      required: false,
      description: 'Opaque cursor from the previous page',
      schema: { type: 'string', maxLength: MAX_CURSOR_LENGTH },
    }),
    ...Object.entries(filters).map(([name, values]) =>
      ApiQuery({ name, required: false, schema: { type: 'string', enum: [...values] } }),
    ),
  );
}
