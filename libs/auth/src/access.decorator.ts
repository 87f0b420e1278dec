import { applyDecorators, SetMetadata } from '@nestjs/common';
import { ApiBearerAuth } from '@nestjs/swagger';
import { ApiProblem } from '@lib/observability';
import type { CallerScope } from '@lib/tenancy';
import type { Permission, PlatformPermission } from './permissions';

export const ACCESS_METADATA = 'chat-platform:access';

export type AccessRule =
  | { public: true }
  | { public?: false; scope: 'platform'; permission?: PlatformPermission }
  | { public?: false; scope: 'tenant'; permission?: Permission };

/** The route needs no token (login, health, metrics with its own token). */
/** Problem responses every route can give (documented in OpenAPI). */
const COMMON_PROBLEMS = [
  ApiProblem(400, 'Invalid input: the problem names each field'),
  ApiProblem(500, 'Internal error (logged with the request id)'),
  ApiProblem(503, 'DynamoDB unavailable or throttling; retry after Retry-After seconds'),
];

export const Public = (): MethodDecorator & ClassDecorator =>
  applyDecorators(SetMetadata(ACCESS_METADATA, { public: true } satisfies AccessRule), ...COMMON_PROBLEMS);

/**
 * The route needs a valid access token of `scope`, and `permission` when given. Checked by the global guards
 * before the handler (and so before any repository) runs. Every route has this or `@Public()`.
 */
export function Authenticated(
  rule: { scope: 'platform'; permission?: PlatformPermission } | { scope?: 'tenant'; permission?: Permission },
): MethodDecorator & ClassDecorator {
  const scope: CallerScope = rule.scope ?? 'tenant';
  return applyDecorators(
    SetMetadata(ACCESS_METADATA, { ...rule, scope } as AccessRule),
    ApiBearerAuth(),
    ApiProblem(401, 'Missing, invalid or expired access token'),
    ApiProblem(403, 'The token lacks the permission, or its tenant is suspended'),
    ...COMMON_PROBLEMS,
  );
}
