import { Injectable } from '@nestjs/common';
import { Permission, PERMISSION_DESCRIPTIONS } from '@lib/auth';
import { RETRY, retryOptimistic } from '@lib/dynamo';
import { DomainError } from '@lib/observability';
import type { Caller } from '@lib/tenancy';
import { ulid } from 'ulid';
import {
  type CreateRoleDto,
  MAX_ROLES_PER_TENANT,
  type PermissionDto,
  type RoleDto,
  type UpdateRoleDto,
} from './dto/role.dto';
import type { RoleRecord } from './role.types';
import { RolesCache } from './roles.cache';
import { RolesRepository } from './roles.repository';

export function toRoleDto(r: RoleRecord): RoleDto {
  return {
    id: r.id,
    name: r.name,
    description: r.description ?? '',
    permissions: r.permissions,
    builtIn: r.builtIn,
    createdAt: r.createdAt,
    updatedAt: r.updatedAt,
  };
}

/** A caller cannot grant what they do not hold: every permission must be among the caller's. */
export function assertNoEscalation(caller: Caller, permissions: Iterable<string>): void {
  const missing = [...permissions].filter((p) => !caller.permissions.has(p));
  if (missing.length > 0)
    throw new DomainError('forbidden', `you cannot grant permissions you do not hold: ${missing.join(', ')}`);
}

/**
 * A role changes every user who holds it, so touching a role (any field, or deleting it) needs every permission
 * it grants now, as granting needs every one it will grant (assertNoEscalation): otherwise a role manager could
 * demote users who hold more than they do through their shared role, which they may not do to those users directly.
 */
export function assertMayChangeRole(caller: Caller, current: Iterable<string>): void {
  const missing = [...current].filter((p) => !caller.permissions.has(p));
  if (missing.length > 0)
    throw new DomainError('forbidden', `this role grants permissions you do not hold: ${missing.join(', ')}`);
}

@Injectable()
export class RolesService {
  constructor(
    private readonly repository: RolesRepository,
    private readonly cache: RolesCache,
  ) {}

  permissions(): PermissionDto[] {
    return Object.values(Permission).map((name) => ({ name, description: PERMISSION_DESCRIPTIONS[name] }));
  }

  async list(): Promise<RoleDto[]> {
    return (await this.repository.list()).map(toRoleDto);
  }

  async get(id: string): Promise<RoleRecord> {
    const role = await this.repository.get(id);
    if (!role) throw new DomainError('not_found', 'role not found');
    return role;
  }

  async create(caller: Caller, dto: CreateRoleDto): Promise<RoleRecord> {
    assertNoEscalation(caller, dto.permissions);
    if ((await this.cache.roles()).size >= MAX_ROLES_PER_TENANT) {
      throw new DomainError('conflict', `a tenant has at most ${MAX_ROLES_PER_TENANT} roles`);
    }
    const now = new Date().toISOString();
    const role: RoleRecord = {
      id: ulid(),
      name: dto.name.trim(),
      description: dto.description?.trim() ?? '',
      permissions: dto.permissions,
      builtIn: false,
      createdAt: now,
      updatedAt: now,
      version: 1,
    };
    const result = await this.repository.create(role);
    if (result === 'name_taken') throw new DomainError('conflict', 'role name taken');
    if (result !== 'ok') throw new DomainError('conflict', 'role could not be created; retry');
    this.cache.invalidate();
    return role;
  }

  /** Changes a custom role at the version read; without If-Match a concurrent change is retried on the new one. */
  async update(caller: Caller, id: string, dto: UpdateRoleDto, ifMatch: number | undefined): Promise<RoleRecord> {
    return retryOptimistic(() => this.updateOnce(caller, id, dto, ifMatch), {
      conflict: 'the role was changed concurrently; retry',
    });
  }

  private async updateOnce(
    caller: Caller,
    id: string,
    dto: UpdateRoleDto,
    ifMatch: number | undefined,
  ): Promise<RoleRecord | typeof RETRY> {
    const current = await this.get(id);
    if (current.builtIn) throw new DomainError('forbidden', 'built-in roles cannot be changed');
    if (ifMatch !== undefined && ifMatch !== current.version)
      throw new DomainError('precondition_failed', 'the role was changed since you read it');
    // The caller must hold every permission the role grants now and, granting through a role being granting,
    // every one it will grant.
    assertMayChangeRole(caller, current.permissions);
    if (dto.permissions) assertNoEscalation(caller, dto.permissions);
    const next = {
      name: dto.name?.trim() ?? current.name,
      description: dto.description?.trim() ?? current.description,
      permissions: dto.permissions ?? current.permissions,
      updatedAt: new Date().toISOString(),
    };
    const result = await this.repository.update(current, next);
    if (result === 'name_taken') throw new DomainError('conflict', 'role name taken');
    if (result === 'conflict') {
      if (ifMatch !== undefined) throw new DomainError('precondition_failed', 'the role was changed since you read it');
      return RETRY;
    }
    this.cache.invalidate();
    return { ...current, ...next, version: current.version + 1 };
  }

  async delete(caller: Caller, id: string): Promise<void> {
    await retryOptimistic(
      async () => {
        const role = await this.get(id);
        if (role.builtIn) throw new DomainError('forbidden', 'built-in roles cannot be deleted');
        assertMayChangeRole(caller, role.permissions);
        if ((role.assignedCount ?? 0) > 0) throw new DomainError('conflict', 'the role is still assigned to users');
        // Changed or assigned since it was read: the next round checks the new version.
        return (await this.repository.delete(role)) === 'conflict' ? RETRY : undefined;
      },
      { conflict: 'the role was changed concurrently; retry' },
    );
    this.cache.invalidate();
  }
}
