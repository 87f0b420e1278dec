import { Injectable } from '@nestjs/common';
import { GetCommand, PutCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { DynamoClients, isConditionalCheckFailed, TenantKeys } from '@lib/dynamo';
import { TenantRepository } from '@lib/tenancy';

/** A refresh-token family: one per login, rotated on every refresh. */
export interface UserSession {
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
}

const MAX_PREVIOUS_HASHES = 50;

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

  /** Replaces the refresh hash only if it is still the one presented; false when another refresh won. */
  async rotate(session: UserSession, newHash: string, expiresAt: number): Promise<boolean> {
    try {
      await this.doc.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: TenantKeys.session(session.userId, session.sessionId),
          UpdateExpression: 'SET refreshHash = :new, previousHashes = :prev, expiresAt = :exp',
          ConditionExpression: 'refreshHash = :current AND revoked = :false',
          ExpressionAttributeValues: {
            ':new': newHash,
            ':prev': [...session.previousHashes, session.refreshHash].slice(-MAX_PREVIOUS_HASHES),
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
