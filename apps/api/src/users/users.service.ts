import { Injectable, Logger } from '@nestjs/common';
import { PasswordHasher } from '@lib/auth';
import { type CursorBinding, CursorCodec, RETRY, retryOptimistic } from '@lib/dynamo';
import { DomainError } from '@lib/observability';
import { type Caller, RequestContext } from '@lib/tenancy';
import { ulid } from 'ulid';
import { ChatsService } from '../chats/chats.service';
import type { PageQuery } from '../common/pagination';
import type { RoleRecord } from '../roles/role.types';
import { RolesCache } from '../roles/roles.cache';
import { assertNoEscalation } from '../roles/roles.service';
import type { CreateUserDto, UpdateUserDto, UserDto, UserPageDto } from './dto/user.dto';
import { UserCache } from './user.cache';
import type { UserRecord } from './user.types';
import { type RoleCounterChange, UsersRepository, type UserWriteResult } from './users.repository';

export function toUserDto(u: UserRecord): UserDto {
  return {
    id: u.id,
    email: u.email,
    name: u.name,
    roleIds: u.roleIds,
    disabled: u.disabled,
    createdAt: u.createdAt,
    updatedAt: u.updatedAt,
  };
}

const LAST_OWNER = 'the last enabled owner of a tenant cannot be removed, disabled or deleted';

/** Tenant admins' management of users: create, change, disable, delete; no escalation, never the last owner. */
@Injectable()
export class UsersService {
  private readonly logger = new Logger(UsersService.name);

  constructor(
    private readonly repository: UsersRepository,
    private readonly cache: UserCache,
    private readonly roles: RolesCache,
    private readonly hasher: PasswordHasher,
    private readonly cursors: CursorCodec,
    private readonly chats: ChatsService,
  ) {}

  async list(caller: Caller, query: PageQuery): Promise<UserPageDto> {
    const binding: CursorBinding = { tenant: RequestContext.tenant().id, list: 'users', caller: caller.id };
    return this.cursors.page(
      query.cursor,
      binding,
      (start) => this.repository.page(query.limit, start),
      (users) => users.map(toUserDto),
    );
  }

  async get(id: string): Promise<UserRecord> {
    const user = await this.repository.get(id);
    if (!user) throw new DomainError('not_found', 'user not found');
    return user;
  }

  async create(caller: Caller, dto: CreateUserDto): Promise<UserRecord> {
    await this.assertGrantable(caller, dto.roleIds);
    const now = new Date().toISOString();
    const user: UserRecord = {
      id: ulid(),
      email: dto.email.trim().toLowerCase(),
      name: dto.name.trim(),
      passwordHash: await this.hasher.hash(dto.password),
      roleIds: dto.roleIds,
      disabled: false,
      createdAt: now,
      updatedAt: now,
      version: 1,
    };
    this.check(await this.repository.create(user));
    return user;
  }

  async update(caller: Caller, id: string, dto: UpdateUserDto, ifMatch: number | undefined): Promise<UserRecord> {
    return retryOptimistic(
      async () => {
        const current = await this.get(id);
        if (ifMatch !== undefined && current.version !== ifMatch)
          throw new DomainError('precondition_failed', 'the user was changed since you read it');
        await this.assertNotMorePrivileged(caller, current);
        const roleIds = dto.roleIds ?? current.roleIds;
        const added = roleIds.filter((r) => !current.roleIds.includes(r));
        await this.assertGrantable(caller, added);
        const disabled = dto.disabled ?? current.disabled;
        const changes: Partial<UserRecord> = {};
        if (dto.name !== undefined) changes.name = dto.name.trim();
        if (dto.roleIds !== undefined) changes.roleIds = roleIds;
        if (dto.disabled !== undefined) changes.disabled = disabled;
        // Disabling revokes every session and every access token issued so far.
        if (disabled && !current.disabled) changes.tokensValidAfter = Math.floor(Date.now() / 1000);
        const counters = await this.counterChanges(current.roleIds, !current.disabled, roleIds, !disabled);
        const updatedAt = new Date().toISOString();
        const result = await this.repository.update(current, changes, counters, updatedAt);
        if (result === 'version' && ifMatch === undefined) return RETRY;
        this.check(result);
        this.cache.invalidate(id);
        if (changes.tokensValidAfter) this.logger.log(`user ${id} disabled: sessions revoked`);
        return { ...current, ...changes, updatedAt, version: current.version + 1 };
      },
      { conflict: 'the user is being changed concurrently; retry' },
    );
  }

  /** Deletes the user, their sessions and their chats (with every message). */
  async delete(caller: Caller, id: string): Promise<void> {
    await retryOptimistic(
      async () => {
        const current = await this.get(id);
        await this.assertNotMorePrivileged(caller, current);
        const counters = await this.counterChanges(current.roleIds, !current.disabled, [], false);
        const result = await this.repository.delete(current, counters);
        if (result === 'version') return RETRY;
        this.check(result);
        this.cache.invalidate(id);
        await this.chats.deleteAllOwnedBy(id);
        return true;
      },
      { conflict: 'the user is being changed concurrently; retry' },
    );
  }

  /**
   * Nobody changes, deletes or resets the password of a user who holds permissions the caller lacks (an admin
   * cannot demote an owner, nor take an owner's account over).
   */
  async assertNotMorePrivileged(caller: Caller, target: UserRecord): Promise<void> {
    if (target.id === caller.id) return;
    const theirs = await this.roles.permissionsOf(target.roleIds);
    const missing = [...theirs].filter((p) => !caller.permissions.has(p));
    if (missing.length > 0) {
      throw new DomainError('forbidden', `this user holds permissions you do not hold: ${missing.join(', ')}`);
    }
  }

  /** Every role must exist, and the caller must hold every permission the roles carry. */
  private async assertGrantable(caller: Caller, roleIds: string[]): Promise<RoleRecord[]> {
    const all = await this.roles.roles();
    const roles = roleIds.map((id) => all.get(id));
    const unknown = roleIds.filter((_, i) => !roles[i]);
    if (unknown.length > 0) {
      throw new DomainError('invalid_input', 'the request is not valid', {
        errors: [{ field: 'roleIds', message: `unknown role ${unknown.join(', ')}` }],
      });
    }
    assertNoEscalation(
      caller,
      roles.flatMap((r) => r?.permissions ?? []),
    );
    return roles as RoleRecord[];
  }

  private async counterChanges(
    oldIds: string[],
    wasEnabled: boolean,
    newIds: string[],
    willBeEnabled: boolean,
  ): Promise<RoleCounterChange[]> {
    const owner = [...(await this.roles.roles()).values()].find((r) => r.builtIn && r.name === 'owner');
    return [...new Set([...oldIds, ...newIds])].map((roleId) => {
      const inOld = oldIds.includes(roleId);
      const inNew = newIds.includes(roleId);
      const enabled = (inNew && willBeEnabled ? 1 : 0) - (inOld && wasEnabled ? 1 : 0);
      return {
        roleId,
        assigned: (inNew ? 1 : 0) - (inOld ? 1 : 0),
        enabled,
        keepOneEnabled: enabled < 0 && roleId === owner?.id,
      };
    });
  }

  private check(result: UserWriteResult): void {
    switch (result) {
      case 'ok':
        return;
      case 'email_taken':
        throw new DomainError('conflict', 'a user with this email already exists in this tenant');
      case 'last_owner':
        throw new DomainError('conflict', LAST_OWNER);
      case 'role_missing':
        throw new DomainError('invalid_input', 'the request is not valid', {
          errors: [{ field: 'roleIds', message: 'a role no longer exists' }],
        });
      case 'version':
        throw new DomainError('precondition_failed', 'the user was changed since you read it');
    }
  }
}
