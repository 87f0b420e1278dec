import { Injectable } from '@nestjs/common';
import type { RefreshFamily, RefreshGrace, RefreshRotation } from '@lib/auth';
import { GetCommand, PutCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import {
  ControlKeys,
  DynamoClients,
  isConditionalCheckFailed,
  isTransactionCanceled,
  type OperatorAttributes,
} from '@lib/dynamo';
import { ControlTableService } from '@lib/tenancy';
import * as dynamoose from 'dynamoose';

/** A refresh-token family of an operator (the rotation rule: libs/auth refresh-token.ts). */
export interface OperatorSession extends RefreshFamily {
  operatorId: string;
  sessionId: string;
  refreshHash: string;
  /** Hashes of refresh tokens already rotated out: presenting one again is reuse. */
  previousHashes: string[];
  revoked: boolean;
  /** Epoch seconds; DynamoDB TTL removes the item after it. */
  expiresAt: number;
  createdAt: string;
  /** The last rotation, for its grace window; absent before the first refresh. */
  grace?: RefreshGrace;
}

/**
 * Operators and their sessions in the control table. Operators go through dynamoose (fixed models, low traffic);
 * session rotation is a conditional UpdateItem through the document client, so that two refreshes with the
 * same token cannot both win.
 */
@Injectable()
export class OperatorsRepository {
  constructor(
    private readonly control: ControlTableService,
    private readonly clients: DynamoClients,
  ) {}

  /**
   * Read on every `/v1/platform/me`: one GetItem through the document client. (Through dynamoose it cost
   * about 0.8 ms of CPU more per call, measured in bench/: a schema walk and a failed optional require.)
   */
  async findById(id: string): Promise<OperatorAttributes | undefined> {
    const item = await this.clients.get({
      TableName: this.control.tableName,
      Key: ControlKeys.operator(id),
      ConsistentRead: true,
    });
    return item as OperatorAttributes | undefined;
  }

  async findByEmail(email: string): Promise<OperatorAttributes | undefined> {
    const marker = await this.control.models.markers.get(ControlKeys.operatorEmail(email), { consistent: true });
    return marker ? this.findById(marker.ownerId) : undefined;
  }

  /** Creates the operator and its email marker in one transaction; false when the email is taken. */
  async create(operator: Omit<OperatorAttributes, 'pk' | 'sk'>): Promise<boolean> {
    const { operators, markers } = this.control.models;
    try {
      await dynamoose.transaction([
        operators.transaction.create({ ...ControlKeys.operator(operator.id), ...operator }),
        markers.transaction.create({
          ...ControlKeys.operatorEmail(operator.email),
          ownerId: operator.id,
          createdAt: operator.createdAt,
        }),
      ]);
      return true;
    } catch (error) {
      if (isTransactionCanceled(error) || isConditionalCheckFailed(error)) return false;
      throw error;
    }
  }

  async createSession(session: OperatorSession): Promise<void> {
    await this.clients.doc.send(
      new PutCommand({
        TableName: this.control.tableName,
        Item: { ...ControlKeys.operatorSession(session.operatorId, session.sessionId), ...session },
        ConditionExpression: 'attribute_not_exists(pk)',
      }),
    );
  }

  async findSession(operatorId: string, sessionId: string): Promise<OperatorSession | undefined> {
    const { Item } = await this.clients.doc.send(
      new GetCommand({
        TableName: this.control.tableName,
        Key: ControlKeys.operatorSession(operatorId, sessionId),
        ConsistentRead: true,
      }),
    );
    return Item as OperatorSession | undefined;
  }

  /** Writes a rotation only if the refresh hash is still the one presented; false when another refresh won. */
  async rotate(session: OperatorSession, rotation: RefreshRotation, expiresAt: number): Promise<boolean> {
    try {
      await this.clients.doc.send(
        new UpdateCommand({
          TableName: this.control.tableName,
          Key: ControlKeys.operatorSession(session.operatorId, session.sessionId),
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

  async revokeSession(operatorId: string, sessionId: string): Promise<void> {
    await this.clients.doc
      .send(
        new UpdateCommand({
          TableName: this.control.tableName,
          Key: ControlKeys.operatorSession(operatorId, sessionId),
          UpdateExpression: 'SET revoked = :true',
          ConditionExpression: 'attribute_exists(pk)',
          ExpressionAttributeValues: { ':true': true },
        }),
      )
      .catch((error: unknown) => {
        if (!isConditionalCheckFailed(error)) throw error;
      });
  }
}
