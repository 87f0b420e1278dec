import { Injectable } from '@nestjs/common';
import { BUILT_IN_ROLES } from '@lib/auth';
import { DynamoClients, Entities, type ItemKey, type PendingAdmin, type TenantAttributes } from '@lib/dynamo';
import { TenantTable } from '@lib/tenancy';
import { ulid } from 'ulid';

/** The tenant being provisioned: its table is not reached through a request context. */
type SeededTenant = Pick<TenantAttributes, 'id' | 'tableName'>;

/**
 * Writes what every new tenant table starts with: the built-in roles and the first admin (role `owner`).
 * Each write is conditional (uniqueness markers in the same transaction), so a re-run after a crash finds
 * what the first run wrote and carries on.
 */
@Injectable()
export class TenantSeeder {
  constructor(private readonly clients: DynamoClients) {}

  /** Creates the built-in roles that are missing; returns role name → id. */
  async seedRoles(tenant: SeededTenant): Promise<Map<string, string>> {
    const table = new TenantTable(this.clients, tenant);
    const ids = new Map<string, string>();
    for (const role of BUILT_IN_ROLES) {
      const id = ulid();
      const now = new Date().toISOString();
      const result = await table.transact([
        {
          put: {
            ...Entities.role.key(id),
            ...Entities.role.index(role.name),
            id,
            name: role.name,
            description: role.description,
            permissions: role.permissions,
            builtIn: true,
            assignedCount: 0,
            enabledCount: 0,
            createdAt: now,
            updatedAt: now,
            version: 1,
          },
          when: { ConditionExpression: 'attribute_not_exists(pk)' },
        },
        {
          put: { ...Entities.roleName.key(role.name), ownerId: id, createdAt: now },
          when: { ConditionExpression: 'attribute_not_exists(pk)' },
        },
      ]);
      // Refused: a previous run created the role; its name marker says which.
      ids.set(role.name, result.committed ? id : await this.ownerOf(table, Entities.roleName.key(role.name)));
    }
    return ids;
  }

  /** Creates the first admin with the `owner` role, unless a previous run already did. */
  async createAdmin(tenant: SeededTenant, admin: PendingAdmin, ownerRoleId: string): Promise<void> {
    const table = new TenantTable(this.clients, tenant);
    const now = new Date().toISOString();
    const result = await table.transact([
      {
        put: {
          ...Entities.user.key(admin.id),
          ...Entities.user.index(now, admin.id),
          id: admin.id,
          email: admin.email,
          name: admin.name,
          passwordHash: admin.passwordHash,
          roleIds: [ownerRoleId],
          disabled: false,
          createdAt: now,
          updatedAt: now,
          version: 1,
        },
        when: { ConditionExpression: 'attribute_not_exists(pk)' },
      },
      {
        put: { ...Entities.email.key(admin.email), ownerId: admin.id, createdAt: now },
        when: { ConditionExpression: 'attribute_not_exists(pk)' },
      },
      // The owner role counts its holders (a role in use cannot be deleted; the last owner cannot go).
      {
        update: Entities.role.key(ownerRoleId),
        spec: {
          UpdateExpression: 'ADD assignedCount :one, enabledCount :one',
          ConditionExpression: 'attribute_exists(pk)',
          ExpressionAttributeValues: { ':one': 1 },
        },
      },
    ]);
    if (result.committed) return;
    const owner = await this.ownerOf(table, Entities.email.key(admin.email));
    if (owner !== admin.id) throw new Error('the admin email is taken by another user in the new tenant table');
  }

  private async ownerOf(table: TenantTable, key: ItemKey): Promise<string> {
    const marker = await table.get<{ ownerId: string }>(key);
    if (!marker) throw new Error(`marker ${key.pk} vanished during seeding`);
    return marker.ownerId;
  }
}
