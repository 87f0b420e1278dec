import { Injectable } from '@nestjs/common';
import { GetCommand, PutCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import type { RefreshFamily, RefreshGrace, RefreshRotation } from '@lib/auth';
import { DynamoClients, isConditionalCheckFailed, TenantKeys } from '@lib/dynamo';
import { TenantRepository } from '@lib/tenancy';

/** A refresh-token family: one per login, rotated on every refresh (the rule: libs/auth refresh-token.ts). */
export interface UserSession extends RefreshFamily {
  userId: string;
  sessionId: string;
  refreshHash: string;
  /** Hashes already rotated out: presenting one again is reuse and revokes the session. */
  previousHashes: string[];
  revoked: boolean;
  /** Epoch seconds. */
  createdAt: number;
  /** Epoch seconds; DynamoDB TTL removes the item after it. */
  expiresAt: number;
  /** The last rotation, for its grace window; absent before the first refresh. */
  grace?: RefreshGrace;
}

/** Sessions live in the user's partition (`USER#<id>` / `SESSION#<sid>`) of the current tenant's table. */
@Injectable()
export class SessionsRepository extends TenantRepository {
  constructor(clients: DynamoClients) {
    super(clients);
  }

  async create(session: UserSession): Promise<void> {
    await this.doc.send(
      new PutCommand({
        TableName: this.tableName,
        Item: { ...TenantKeys.session(session.userId, session.sessionId), ...session },
        ConditionExpression: 'attribute_not_exists(pk)',
      }),
    );
  }

  async get(userId: string, sessionId: string): Promise<UserSession | undefined> {
    const { Item } = await this.doc.send(
      new GetCommand({ TableName: this.tableName, Key: TenantKeys.session(userId, sessionId), ConsistentRead: true }),
    );
    return Item as UserSession | undefined;
  }

  /** Writes a rotation only if the refresh hash is still the one presented; false when another refresh won. */
  async rotate(session: UserSession, rotation: RefreshRotation, expiresAt: number): Promise<boolean> {
    try {
      await this.doc.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: TenantKeys.session(session.userId, session.sessionId),
          UpdateExpression: 'SET refreshHash = :new, previousHashes = :prev, grace = :grace, expiresAt = :exp',
          ConditionExpression: 'refreshHash = :current AND revoked = :false',
          ExpressionAttributeValues: {
            ':new': rotation.refreshHash,
            ':prev': rotation.previousHashes,
            ':grace': rotation.grace,
            ':exp': expiresAt,
            ':current': session.refreshHash,
            ':false': false,
          },
        }),
      );
      return true;
    } catch (error) {
      if (isConditionalCheckFailed(error)) return false;
      throw error;
    }
  }

  async revoke(userId: string, sessionId: string): Promise<void> {
    try {
      await this.doc.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: TenantKeys.session(userId, sessionId),
          UpdateExpression: 'SET revoked = :true',
          ConditionExpression: 'attribute_exists(pk)',
          ExpressionAttributeValues: { ':true': true },
        }),
      );
    } catch (error) {
      if (!isConditionalCheckFailed(error)) throw error;
    }
  }
}
