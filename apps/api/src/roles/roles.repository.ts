import { Injectable } from '@nestjs/common';
import { BUILT_IN_ROLES } from '@lib/auth';
import { DynamoClients, Entities, type ItemKey } from '@lib/dynamo';
import { ChangeFeed, TenantRepository, type TxOp } from '@lib/tenancy';
import type { RoleRecord } from './role.types';

export type RoleWriteResult = 'ok' | 'name_taken' | 'conflict';

/** What a refused item of a role transaction means: the name marker is taken, or the role moved on. */
type RoleRefusal = Exclude<RoleWriteResult, 'ok'>;

/** Each built-in role's permissions as the code defines them, by name. */
const BUILT_IN_PERMISSIONS: ReadonlyMap<string, readonly string[]> = new Map(
  BUILT_IN_ROLES.map((r) => [r.name, r.permissions]),
);

/**
 * A role as it grants and shows: a built-in role's permissions are the code's definition, not the list its item
 * was seeded with, so a permission added to the catalogue reaches the built-in roles of every tenant, however old.
 * Built-in roles cannot be edited (or renamed), so the stored list never records a choice of the tenant's.
 */
export function withBuiltInPermissions(role: RoleRecord): RoleRecord {
  const permissions = role.builtIn ? BUILT_IN_PERMISSIONS.get(role.name) : undefined;
  return permissions ? { ...role, permissions: [...permissions] } : role;
}

/** Roles of the current tenant (table from the request context). */
@Injectable()
export class RolesRepository extends TenantRepository {
  constructor(
    clients: DynamoClients,
    private readonly feed: ChangeFeed,
  ) {
    super(clients);
  }

  /** The change record every role write carries: other instances drop the tenant's cached roles. */
  private changed(): TxOp<RoleRefusal> {
    return { foreign: this.feed.entry({ kind: 'roles', tenantId: this.tenant.id }) };
  }

  /** Every role of the tenant, by name. A tenant has at most a few hundred roles. */
  async list(): Promise<RoleRecord[]> {
    const roles: RoleRecord[] = [];
    for await (const role of this.table.all<RoleRecord>(Entities.role.all())) roles.push(withBuiltInPermissions(role));
    return roles;
  }

  /**
   * Every role of the tenant as it is now, for the permission cache: the index (eventually consistent) gives the
   * ids, a consistent BatchGetItem the items, so that a change announced by the feed is never re-read stale from
   * the index (a role created a moment ago may still be missing: its holders get fewer permissions, not more).
   */
  async listConsistent(): Promise<RoleRecord[]> {
    const keys: ItemKey[] = [];
    for await (const { pk, sk } of this.table.all<ItemKey>({ ...Entities.role.all(), keysOnly: true })) {
      keys.push({ pk, sk });
    }
    return (await this.table.getMany<RoleRecord>(keys)).map(withBuiltInPermissions);
  }

  async get(id: string): Promise<RoleRecord | undefined> {
    const role = await this.table.get<RoleRecord>(Entities.role.key(id));
    return role && withBuiltInPermissions(role);
  }

  /** The role and its name marker in one transaction. */
  async create(role: RoleRecord): Promise<RoleWriteResult> {
    return this.transact([
      {
        put: {
          ...Entities.role.key(role.id),
          ...Entities.role.index(role.name),
          ...role,
          assignedCount: 0,
          enabledCount: 0,
        },
        when: { ConditionExpression: 'attribute_not_exists(pk)' },
        refusal: 'conflict',
      },
      this.putNameMarker(role.name, role.id, role.createdAt),
      this.changed(),
    ]);
  }

  /** Changes name, description or permissions at `expectedVersion`; a new name swaps the marker atomically. */
  async update(
    current: RoleRecord,
    next: Pick<RoleRecord, 'name' | 'description' | 'permissions' | 'updatedAt'>,
  ): Promise<RoleWriteResult> {
    const renamed = next.name.toLowerCase() !== current.name.toLowerCase();
    const ops: Array<TxOp<RoleRefusal>> = [
      {
        update: Entities.role.key(current.id),
        spec: {
          UpdateExpression:
            'SET #name = :name, gsi1sk = :name, description = :d, #perms = :p, updatedAt = :u ADD #version :one',
          ConditionExpression: '#version = :v AND builtIn = :false',
          ExpressionAttributeNames: { '#name': 'name', '#perms': 'permissions', '#version': 'version' },
          ExpressionAttributeValues: {
            ':name': next.name,
            ':d': next.description,
            ':p': next.permissions,
            ':u': next.updatedAt,
            ':one': 1,
            ':v': current.version,
            ':false': false,
          },
        },
        refusal: 'conflict',
      },
    ];
    ops.push(this.changed());
    if (renamed) {
      ops.push(this.putNameMarker(next.name, current.id, next.updatedAt), {
        delete: Entities.roleName.key(current.name),
        when: { ConditionExpression: 'ownerId = :id', ExpressionAttributeValues: { ':id': current.id } },
        refusal: 'conflict',
      });
    }
    return this.transact(ops);
  }

  /**
   * Deletes a custom role that no user holds, at the version read (its permissions as checked), with its name
   * marker. `conflict`: the role changed, was assigned or is gone since it was read.
   */
  async delete(role: RoleRecord): Promise<Exclude<RoleWriteResult, 'name_taken'>> {
    const result = await this.table.transact<RoleRefusal>([
      {
        delete: Entities.role.key(role.id),
        when: {
          ConditionExpression:
            '#version = :v AND builtIn = :false AND (attribute_not_exists(assignedCount) OR assignedCount = :zero)',
          ExpressionAttributeNames: { '#version': 'version' },
          ExpressionAttributeValues: { ':false': false, ':zero': 0, ':v': role.version },
        },
        refusal: 'conflict',
      },
      { delete: Entities.roleName.key(role.name) },
      this.changed(),
    ]);
    return result.committed ? 'ok' : 'conflict';
  }

  private putNameMarker(name: string, ownerId: string, createdAt: string): TxOp<RoleRefusal> {
    return {
      put: { ...Entities.roleName.key(name), ownerId, createdAt },
      when: { ConditionExpression: 'attribute_not_exists(pk)' },
      refusal: 'name_taken',
    };
  }

  /** Runs a transaction; a taken name (the marker's refusal) wins over any other refused condition. */
  private async transact(ops: Array<TxOp<RoleRefusal>>): Promise<RoleWriteResult> {
    const result = await this.table.transact(ops);
    if (result.committed) return 'ok';
    return result.refused.includes('name_taken') ? 'name_taken' : 'conflict';
  }
}
