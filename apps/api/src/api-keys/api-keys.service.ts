import { Injectable, Logger } from '@nestjs/common';
import { DomainError } from '@lib/observability';
import { type Caller, RequestContext } from '@lib/tenancy';
import { ulid } from 'ulid';
import { RolesCache } from '../roles/roles.cache';
import { assertNoEscalation } from '../roles/roles.service';
import { newApiKey } from './api-key-secret';
import { ApiKeyCache } from './api-key.cache';
import type { ApiKeyRecord } from './api-key.types';
import { ApiKeysRepository } from './api-keys.repository';
import {
  type ApiKeyDto,
  type CreateApiKeyDto,
  type CreatedApiKeyDto,
  MAX_API_KEYS_PER_TENANT,
} from './dto/api-key.dto';

/** What a key shows in lists (never its secret nor the secret's hash). */
export function toApiKeyDto(k: ApiKeyRecord): ApiKeyDto {
  return {
    id: k.id,
    name: k.name,
    prefix: k.prefix,
    roleIds: k.roleIds,
    createdBy: k.createdBy,
    createdAt: k.createdAt,
    ...(k.expiresAt ? { expiresAt: k.expiresAt } : {}),
    ...(k.lastUsedAt ? { lastUsedAt: k.lastUsedAt } : {}),
  };
}

/** API keys of service accounts: created by a user with roles they could grant, listed, revoked (docs/api-keys.md). */
@Injectable()
export class ApiKeysService {
  private readonly logger = new Logger(ApiKeysService.name);

  constructor(
    private readonly repository: ApiKeysRepository,
    private readonly cache: ApiKeyCache,
    private readonly roles: RolesCache,
  ) {}

  /** The key is returned once, with its secret; the caller must hold every permission its roles grant. */
  async create(caller: Caller, dto: CreateApiKeyDto): Promise<CreatedApiKeyDto> {
    const all = await this.roles.roles();
    const unknown = dto.roleIds.filter((id) => !all.has(id));
    if (unknown.length > 0) {
      throw new DomainError('invalid_input', 'the request is not valid', {
        errors: [{ field: 'roleIds', message: `unknown role ${unknown.join(', ')}` }],
      });
    }
    assertNoEscalation(
      caller,
      dto.roleIds.flatMap((id) => all.get(id)?.permissions ?? []),
    );
    if (dto.expiresAt !== undefined && Date.parse(dto.expiresAt) <= Date.now()) {
      throw new DomainError('invalid_input', 'the request is not valid', {
        errors: [{ field: 'expiresAt', message: 'expiresAt must be in the future' }],
      });
    }
    if ((await this.repository.list()).length >= MAX_API_KEYS_PER_TENANT) {
      throw new DomainError('conflict', `a tenant holds at most ${MAX_API_KEYS_PER_TENANT} API keys; revoke one first`);
    }
    const id = ulid();
    const { key, prefix, secretHash } = newApiKey(RequestContext.tenant().id, id);
    const record: ApiKeyRecord = {
      id,
      name: dto.name.trim(),
      prefix,
      secretHash,
      roleIds: dto.roleIds,
      createdBy: caller.id,
      createdAt: new Date().toISOString(),
      ...(dto.expiresAt !== undefined ? { expiresAt: new Date(dto.expiresAt).toISOString() } : {}),
    };
    if (!(await this.repository.create(record))) throw new Error(`API key id ${id} already taken`);
    this.cache.invalidate(id);
    this.logger.log(`API key ${id} created by user ${caller.id}`);
    return { ...toApiKeyDto(record), key };
  }

  async list(): Promise<ApiKeyDto[]> {
    return (await this.repository.list()).map(toApiKeyDto);
  }

  /** Refused from the next request on this instance, within the revocation bound on the others. */
  async revoke(id: string): Promise<void> {
    if (!(await this.repository.delete(id))) throw new DomainError('not_found', 'API key not found');
    this.cache.invalidate(id);
    this.logger.log(`API key ${id} revoked`);
  }
}
