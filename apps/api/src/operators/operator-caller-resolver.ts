import { Injectable } from '@nestjs/common';
import { type AccessClaims, ALL_PLATFORM_PERMISSIONS, type PlatformCallerResolver } from '@lib/auth';
import type { Caller } from '@lib/tenancy';
import { OperatorCache } from './operator.cache';

/**
 * The operator behind a verified platform token: the operator exists and is not disabled, and the token was
 * issued after the operator's last disable (so that disable → enable does not bring old tokens back). Cached
 * until the change feed names the operator: no DynamoDB call in steady state.
 */
@Injectable()
export class OperatorCallerResolver implements PlatformCallerResolver {
  constructor(private readonly operators: OperatorCache) {}

  async resolve(claims: AccessClaims): Promise<Caller | undefined> {
    const operator = await this.operators.get(claims.sub);
    if (!operator || operator.disabled) return undefined;
    if (operator.tokensValidAfter !== undefined && claims.iat <= operator.tokensValidAfter) return undefined;
    return { id: operator.id, scope: 'platform', sessionId: claims.sid, permissions: ALL_PLATFORM_PERMISSIONS };
  }
}
