import { Injectable, Logger } from '@nestjs/common';
import { hashRefreshToken, newRefreshToken, PasswordHasher, refreshTokenIds, sameHash } from '@lib/auth';
import { RETRY, retryOptimistic } from '@lib/dynamo';
import { DomainError } from '@lib/observability';
import { type Caller, RequestContext, TenantRegistry } from '@lib/tenancy';
import { ulid } from 'ulid';
import type { PasswordResetTokenDto } from './dto/password-reset.dto';
import { UserCache } from './user.cache';
import type { UserRecord } from './user.types';
import { UsersRepository } from './users.repository';
import { UsersService } from './users.service';

/** How long an issued reset token is valid. */
export const PASSWORD_RESET_TTL_SECONDS = 30 * 60;
/** Marks reset tokens apart from refresh tokens, which otherwise share the `<ids>.<secret>` shape. */
const PREFIX = 'pwreset.';
const INVALID = 'invalid or expired password reset token';
const nowSeconds = () => Math.floor(Date.now() / 1000);

/**
 * Password reset for password users: a tenant admin issues a single-use token for a user (shown once; only
 * its SHA-256 is stored, in the user's partition, for 30 minutes), hands it over out of band, and the user
 * redeems it with a new password. Redeeming sets the password, revokes every session and access token of the
 * user, and drops the user's other reset tokens. The token is `pwreset.<tenant id>.<user id>.<token id>.<secret>`,
 * so that its item is found with one GetItem, without a lookup across tenants.
 */
@Injectable()
export class PasswordResetService {
  private readonly logger = new Logger(PasswordResetService.name);

  constructor(
    private readonly users: UsersService,
    private readonly repository: UsersRepository,
    private readonly cache: UserCache,
    private readonly registry: TenantRegistry,
    private readonly hasher: PasswordHasher,
  ) {}

  /** A new token for `userId`: the caller must hold every permission the user holds (no escalation). */
  async issue(caller: Caller, userId: string): Promise<PasswordResetTokenDto> {
    const user = await this.users.get(userId);
    await this.users.assertNotMorePrivileged(caller, user);
    const tokenId = ulid();
    const { token, hash } = newRefreshToken([RequestContext.tenant().id, user.id, tokenId]);
    const expiresAt = nowSeconds() + PASSWORD_RESET_TTL_SECONDS;
    await this.repository.createPasswordReset({
      userId: user.id,
      tokenId,
      tokenHash: hash,
      expiresAt,
      issuedBy: caller.id,
      createdAt: new Date().toISOString(),
    });
    this.logger.log(`password reset issued for user ${user.id} by ${caller.id}`);
    return { token: `${PREFIX}${token}`, expiresAt: new Date(expiresAt * 1000).toISOString() };
  }

  /** The throttle's account key of a presented token: its tenant and user (or one key for malformed tokens). */
  static throttleAccount(token: string): string {
    const ids = PasswordResetService.ids(token);
    return `password-reset:${ids ? `${ids[0]}:${ids[1]}` : 'malformed'}`;
  }

  /**
   * Sets the password of the token's user and revokes every session. Unknown, forged, used, expired and other
   * tenants' tokens, deleted and disabled users all get the same 401.
   */
  async redeem(token: string, newPassword: string): Promise<void> {
    const ids = PasswordResetService.ids(token);
    if (!ids) throw new DomainError('unauthenticated', INVALID);
    const [tenantId, userId, tokenId] = ids;
    const tenant = await this.registry.resolve(tenantId);
    if (!tenant || (tenant.status !== 'active' && tenant.status !== 'suspended')) {
      throw new DomainError('unauthenticated', INVALID);
    }
    RequestContext.enterTenant(tenant);
    const tokenHash = hashRefreshToken(token.slice(PREFIX.length));
    const reset = await this.repository.getPasswordReset(userId, tokenId);
    if (!reset || !sameHash(reset.tokenHash, tokenHash) || reset.expiresAt <= nowSeconds()) {
      throw new DomainError('unauthenticated', INVALID);
    }
    const passwordHash = await this.hasher.hash(newPassword);
    const revokedAt = await retryOptimistic(
      async () => {
        const user = await this.repository.get(userId);
        if (!usable(user)) throw new DomainError('unauthenticated', INVALID);
        const now = nowSeconds();
        const result = await this.repository.redeemPasswordReset(
          user,
          { tokenId, tokenHash, now },
          { passwordHash, tokensValidAfter: now },
          new Date().toISOString(),
        );
        if (result === 'token_used') throw new DomainError('unauthenticated', INVALID);
        return result === 'ok' ? now : RETRY; // the user changed since it was read: read it again
      },
      { conflict: 'the user is being changed concurrently; retry' },
    );
    this.cache.invalidate(userId);
    await this.repository.deletePasswordResets(userId);
    this.logger.log(`password reset redeemed for user ${userId}: sessions revoked`);
    // Tokens issued in the revocation's second are refused with it (`iat <= tokensValidAfter`): answer once that
    // second has passed, so that a sign-in with the new password right after this answer is not refused.
    const wait = (revokedAt + 1) * 1000 - Date.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
  }

  /** The tenant, user and token ids of a well-formed reset token, or undefined. */
  private static ids(token: string): string[] | undefined {
    return token.startsWith(PREFIX) ? refreshTokenIds(token.slice(PREFIX.length), 3) : undefined;
  }
}

function usable(user: UserRecord | undefined): user is UserRecord {
  return user !== undefined && !user.disabled;
}
