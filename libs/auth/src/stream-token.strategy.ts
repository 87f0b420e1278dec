import { Inject, Injectable, Logger, Optional } from '@nestjs/common';
import { DomainError } from '@lib/observability';
import { type Caller, TenantRegistry } from '@lib/tenancy';
import type { FastifyRequest } from 'fastify';
import { enterTenant, TENANT_CALLER_RESOLVER, type TenantCallerResolver } from './access-token.strategy';
import { AuthStrategy, Authenticator, type StrategyOptions, Strategies } from './authenticator';
import { Permission } from './permissions';
import { InvalidTokenError, type StreamClaims, TokenService } from './token.service';

const INVALID_STREAM = 'invalid or expired stream token';
/** What a stream token's caller may do: read, never write, whatever the user's roles allow besides. */
const READ_ONLY: ReadonlySet<string> = new Set([Permission.ChatsRead, Permission.ChatsReadAny]);

/**
 * Stream tokens (`?token=`), for a browser's EventSource, which cannot set `Authorization`. Only the routes that
 * name this strategy (`@Credentials`) read the query string, and they are routes of one reply
 * (`:chatId/:messageId`): the token must name that reply (`msg`), else it gets the answer of a bad token. Then
 * the tenant and the caller as for an access token (the same code and resolver), with the caller's permissions
 * narrowed to reading.
 */
@Injectable()
export class StreamTokenStrategy extends AuthStrategy(Strategies.streamToken) {
  private readonly logger = new Logger(StreamTokenStrategy.name);

  constructor(
    authenticator: Authenticator,
    private readonly tokens: TokenService,
    private readonly tenants: TenantRegistry,
    @Optional() @Inject(TENANT_CALLER_RESOLVER) private readonly callers?: TenantCallerResolver,
  ) {
    super(authenticator);
  }

  async validate(request: FastifyRequest, { rule }: StrategyOptions): Promise<Caller | false> {
    const token = (request.query as Record<string, unknown> | undefined)?.token;
    if (token === undefined || !rule) return false;
    if (rule.scope !== 'tenant') throw new DomainError('forbidden', 'a stream token cannot be used on this route');
    const claims = typeof token === 'string' ? this.verifyToken(token) : undefined;
    const params = request.params as { chatId?: unknown; messageId?: unknown } | undefined;
    if (!claims || claims.msg !== `${String(params?.chatId)}/${String(params?.messageId)}`) {
      throw new DomainError('unauthenticated', INVALID_STREAM);
    }
    const caller = await enterTenant(this.tenants, this.callers, claims, INVALID_STREAM);
    return { ...caller, permissions: new Set([...caller.permissions].filter((p) => READ_ONLY.has(p))) };
  }

  private verifyToken(token: string): StreamClaims | undefined {
    try {
      return this.tokens.verifyStreamToken(token);
    } catch (error) {
      if (!(error instanceof InvalidTokenError)) throw error;
      this.logger.debug(`stream token refused: ${error.message}`);
      return undefined;
    }
  }
}
