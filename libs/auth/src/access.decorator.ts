import { applyDecorators, SetMetadata } from '@nestjs/common';
import { ApiBearerAuth, ApiForbiddenResponse, ApiUnauthorizedResponse } from '@nestjs/swagger';
import type { CallerScope } from '@lib/tenancy';
import type { Permission, PlatformPermission } from './permissions';

export const ACCESS_METADATA = 'chat-platform:access';

export type AccessRule =
  | { public: true }
  | { public?: false; scope: 'platform'; permission?: PlatformPermission }
  | { public?: false; scope: 'tenant'; permission?: Permission };

/** The route needs no token (login, health, metrics with its own token). */
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
    ApiUnauthorizedResponse({ description: 'Missing, invalid or expired access token' }),
    ApiForbiddenResponse({ description: 'The token lacks the permission, or its tenant is suspended' }),
  );
}
