import { SetMetadata } from '@nestjs/common';
import type { CallerScope } from '@lib/tenancy';
import { type StrategyName, Strategies } from './authenticator';

export const CREDENTIALS_METADATA = 'chat-platform:credentials';

/**
 * The ways in a route accepts, in order, when not the default of its scope: an access token for platform routes;
 * an access token or an API key for tenant routes. Routes about the signed-in user themselves (profile, logout,
 * API-key management) accept only an access token.
 */
export const Credentials = (...strategies: StrategyName[]): MethodDecorator & ClassDecorator =>
  SetMetadata(CREDENTIALS_METADATA, strategies);

export const DEFAULT_CREDENTIALS: Record<CallerScope, readonly StrategyName[]> = {
  platform: [Strategies.accessToken],
  tenant: [Strategies.accessToken, Strategies.apiKey],
};
