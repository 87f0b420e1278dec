import { Param, type PipeTransform } from '@nestjs/common';
import { ApiParam } from '@nestjs/swagger';
import { ApiProblem, DomainError, ULID_PATTERN } from '@lib/observability';

/** Refuses a path parameter that is not a ULID with the same 400 problem the validation pipe gives. */
class UlidPipe implements PipeTransform<unknown, string> {
  constructor(private readonly name: string) {}

  transform(value: unknown): string {
    if (typeof value === 'string' && ULID_PATTERN.test(value)) return value;
    throw new DomainError('invalid_input', 'the request is not valid', {
      errors: [{ field: this.name, message: `${this.name} must be a ULID` }],
    });
  }
}

/**
 * A ULID path parameter (`:chatId`, `:userId`, …), checked with one regular expression and documented in OpenAPI
 * with its pattern. Every id route of the API is read through this: a class-transformer + class-validator round
 * on a one-field DTO cost more than the rest of the parameter handling on the hot message page.
 */
export function UlidParam(name: string): ParameterDecorator {
  return documented(
    Param(name, new UlidPipe(name)),
    ApiParam({
      name,
      schema: { type: 'string', pattern: ULID_PATTERN.source, example: '01J9Z8Q3M5XK6B2N4P7R8S9T0V' },
    }),
    // Unknown, deleted, or another tenant's (or user's) object: the same 404, so ids cannot be probed.
    ApiProblem(404, 'No such object visible to the caller'),
  );
}

/** A parameter decorator that also applies OpenAPI method decorators (`@ApiParam`, `@ApiQuery`) to its route. */
export function documented(param: ParameterDecorator, ...docs: MethodDecorator[]): ParameterDecorator {
  return (target, key, index) => {
    param(target, key, index);
    if (key === undefined) return;
    const descriptor = Object.getOwnPropertyDescriptor(target, key);
    if (descriptor) for (const doc of docs) doc(target, key, descriptor);
  };
}
