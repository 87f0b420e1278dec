import { Injectable } from '@nestjs/common';
import { GetCommand, TransactWriteCommand } from '@aws-sdk/lib-dynamodb';
import { BUILT_IN_ROLES } from '@lib/auth';
import { DynamoClients, isTransactionCanceled, type PendingAdmin, TenantKeys } from '@lib/dynamo';
import { ulid } from 'ulid';

/**
 * Writes what every new tenant table starts with: the built-in roles and the first admin (role `owner`).
 * Each write is conditional (uniqueness markers in the same transaction), so a re-run after a crash finds
 * what the first run wrote and carries on.
 */
@Injectable()
export class TenantSeeder {
  constructor(private readonly clients: DynamoClients) {}

  /** Creates the built-in roles that are missing; returns role name → id. */
  async seedRoles(tableName: string): Promise<Map<string, string>> {
    const ids = new Map<string, string>();
    for (const role of BUILT_IN_ROLES) {
      const id = ulid();
      const now = new Date().toISOString();
      try {
        await this.clients.doc.send(
          new TransactWriteCommand({
            TransactItems: [
              {
                Put: {
                  TableName: tableName,
                  Item: {
                    ...TenantKeys.role(id),
                    ...TenantKeys.roleIndex(role.name),
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
                  ConditionExpression: 'attribute_not_exists(pk)',
                },
              },
              {
                Put: {
                  TableName: tableName,
                  Item: { ...TenantKeys.roleName(role.name), ownerId: id, createdAt: now },
                  ConditionExpression: 'attribute_not_exists(pk)',
                },
              },
            ],
          }),
        );
        ids.set(role.name, id);
      } catch (error) {
        if (!isTransactionCanceled(error)) throw error;
        ids.set(role.name, await this.ownerOf(tableName, TenantKeys.roleName(role.name)));
      }
    }
    return ids;
  }

  /** Creates the first admin with the `owner` role, unless a previous run already did. */
  async createAdmin(tableName: string, admin: PendingAdmin, ownerRoleId: string): Promise<void> {
    const now = new Date().toISOString();
    try {
      await this.clients.doc.send(
        new TransactWriteCommand({
          TransactItems: [
            {
              Put: {
                TableName: tableName,
                Item: {
                  ...TenantKeys.user(admin.id),
                  ...TenantKeys.userIndex(now, admin.id),
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
                ConditionExpression: 'attribute_not_exists(pk)',
              },
            },
            {
              Put: {
                TableName: tableName,
                Item: { ...TenantKeys.email(admin.email), ownerId: admin.id, createdAt: now },
                ConditionExpression: 'attribute_not_exists(pk)',
              },
            },
            // The owner role counts its holders (a role in use cannot be deleted; the last owner cannot go).
            {
              Update: {
                TableName: tableName,
                Key: TenantKeys.role(ownerRoleId),
                UpdateExpression: 'ADD assignedCount :one, enabledCount :one',
                ConditionExpression: 'attribute_exists(pk)',
                ExpressionAttributeValues: { ':one': 1 },
              },
            },
          ],
        }),
      );
    } catch (error) {
      if (!isTransactionCanceled(error)) throw error;
      const owner = await this.ownerOf(tableName, TenantKeys.email(admin.email));
      if (owner !== admin.id) throw new Error('the admin email is taken by another user in the new tenant table');
    }
  }

  private async ownerOf(tableName: string, key: { pk: string; sk: string }): Promise<string> {
    const { Item } = await this.clients.doc.send(
      new GetCommand({ TableName: tableName, Key: key, ConsistentRead: true }),
    );
    if (!Item) throw new Error(`marker ${key.pk} vanished during seeding`);
    return Item.ownerId as string;
  }
}
