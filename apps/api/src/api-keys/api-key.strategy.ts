import { Injectable, Logger } from '@nestjs/common';
import { AuthStrategy, Authenticator, Permission, type StrategyOptions, Strategies } from '@lib/auth';
import { DomainError } from '@lib/observability';
import { type Caller, RequestContext, type ResolvedTenant, TenantRegistry } from '@lib/tenancy';
import type { FastifyRequest } from 'fastify';
import { LRUCache } from 'lru-cache';
import { LoginThrottle } from '../auth/login-throttle';
import { permissionsOf, RolesCache } from '../roles/roles.cache';
import { UserCache } from '../users/user.cache';
import { API_KEY_PREFIX, type ParsedApiKey, parseApiKey, secretMatches } from './api-key-secret';
import { ApiKeyCache } from './api-key.cache';
import type { ApiKeyRecord } from './api-key.types';
import { ApiKeysRepository } from './api-keys.repository';

const BEARER_KEY = `Bearer ${API_KEY_PREFIX}`;
const INVALID_KEY = 'invalid, expired or revoked API key';
/** "Last used" is written at most this often per key (and instance): a key in use costs no write per call. */
export const LAST_USED_EVERY_MS = 5 * 60_000;
/** Keys whose last write of "last used" is remembered. */
const LAST_USED_MAX = 10_000;

type Outcome = { caller: Caller } | 'refused' | 'suspended';

/**
 * API keys of service accounts (`Authorization: Bearer cpk_…`, recognised by the prefix). The key names its
 * tenant and id, so the record is found in that tenant's table (cached until the change feed names it: no
 * DynamoDB call per request in steady state), and the secret's hash is compared in constant time. The caller is
 * a service principal whose permissions are the key's roles' AND its creator's current ones (never more than
 * the creator holds now), without `api-keys:manage`: a key never manages keys. A creator deleted or disabled
 * ends their keys (an enable does not bring back keys created before the disable).
 *
 * Unknown, malformed, revoked and expired keys, and keys of an unknown tenant, get the same 401 and count as a
 * failed attempt of the client's address (LoginThrottle.keyAttemptFailed); a suspended tenant is told (403) only
 * to the holder of a valid key.
 */
@Injectable()
export class ApiKeyStrategy extends AuthStrategy(Strategies.apiKey) {
  private readonly logger = new Logger(ApiKeyStrategy.name);
  private readonly lastUsedWrites = new LRUCache<string, number>({ max: LAST_USED_MAX });

  constructor(
    authenticator: Authenticator,
    private readonly tenants: TenantRegistry,
    private readonly keys: ApiKeyCache,
    private readonly repository: ApiKeysRepository,
    private readonly users: UserCache,
    private readonly roles: RolesCache,
    private readonly throttle: LoginThrottle,
  ) {
    super(authenticator);
  }

  async validate(request: FastifyRequest, { rule }: StrategyOptions): Promise<Caller | false> {
    const header = request.headers.authorization;
    if (!header?.startsWith(BEARER_KEY) || !rule) return false;
    if (rule.scope !== 'tenant') throw new DomainError('forbidden', 'an API key cannot be used on this route');
    this.throttle.assertKeyAttemptAllowed(request.ip);
    const parsed = parseApiKey(header.slice('Bearer '.length));
    const outcome = parsed ? await this.check(parsed) : 'refused';
    if (outcome === 'suspended') throw new DomainError('tenant_suspended', 'tenant suspended');
    if (outcome === 'refused') {
      await this.throttle.keyAttemptFailed(request.ip);
      throw new DomainError('unauthenticated', INVALID_KEY);
    }
    return outcome.caller;
  }

  private async check(parsed: ParsedApiKey): Promise<Outcome> {
    const tenant = await this.tenants.resolve(parsed.tenantId);
    if (!tenant || (tenant.status !== 'active' && tenant.status !== 'suspended')) return 'refused';
    const store = RequestContext.current();
    if (!store) throw new Error('request context missing: the HTTP hooks did not run');
    // The tenant enters the context first: the caches read the tenant's table.
    store.tenant = tenant;
    const outcome = await this.principal(tenant, parsed);
    if (typeof outcome !== 'object') store.tenant = undefined;
    return outcome;
  }

  private async principal(tenant: ResolvedTenant, parsed: ParsedApiKey): Promise<Outcome> {
    const key = await this.keys.get(parsed.keyId);
    if (!key || !secretMatches(key.secretHash, parsed)) return 'refused';
    if (key.expiresAt !== undefined && Date.parse(key.expiresAt) <= Date.now()) return 'refused';
    const [creator, roles] = await Promise.all([this.users.get(key.createdBy), this.roles.roles()]);
    if (!creator || creator.disabled) return 'refused';
    const createdAt = Math.floor(Date.parse(key.createdAt) / 1000);
    if (creator.tokensValidAfter !== undefined && createdAt <= creator.tokensValidAfter) return 'refused';
    if (tenant.status === 'suspended') return 'suspended';
    const held = permissionsOf(roles, creator.roleIds);
    const permissions = new Set<string>();
    for (const p of permissionsOf(roles, key.roleIds)) {
      if (held.has(p) && p !== Permission.ApiKeysManage) permissions.add(p);
    }
    this.recordUse(tenant, key);
    return { caller: { id: key.id, scope: 'tenant', sessionId: key.id, tenantId: tenant.id, permissions } };
  }

  /** At most one write per key per LAST_USED_EVERY_MS on this instance, not awaited by the request. */
  private recordUse(tenant: ResolvedTenant, key: ApiKeyRecord): void {
    const now = Date.now();
    const id = `${tenant.id}:${key.id}`;
    const last = this.lastUsedWrites.get(id) ?? (key.lastUsedAt ? Date.parse(key.lastUsedAt) : undefined);
    if (last !== undefined && now - last < LAST_USED_EVERY_MS) return;
    this.lastUsedWrites.set(id, now);
    const at = new Date(now).toISOString();
    const since = new Date(now - LAST_USED_EVERY_MS).toISOString();
    this.repository.touch(key.id, at, since).catch((error: unknown) => {
      this.logger.warn(`could not record the use of API key ${key.id}: ${String(error)}`);
    });
  }
}
