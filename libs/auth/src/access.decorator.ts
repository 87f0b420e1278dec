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

/**
 * The route needs no token (login, health, metrics with its own token). The problems every route can answer
 * (400, 431, 500, 503) are added to the document for all routes at once (apps/api/src/common/openapi-contract.ts).
 */
export const Public = (): MethodDecorator & ClassDecorator =>
  applyDecorators(SetMetadata(ACCESS_METADATA, { public: true } satisfies AccessRule));

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
    ApiProblem(
      403,
      scope === 'platform'
        ? 'A token of the other scope, or without the permission'
        : 'A token of the other scope or without the permission, or its tenant is suspended or not yet usable',
    ),
    // Tenant routes take API keys too, whose failed attempts are limited per address.
    ...(scope === 'tenant'
      ? [ApiProblem(429, 'Too many failed API key attempts from this address, or a limit of the route (Retry-After)')]
      : []),
  );
}
