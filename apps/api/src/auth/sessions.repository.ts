import { Injectable } from '@nestjs/common';
import { type RefreshFamily, type RefreshGrace, type RefreshRotation, rotationUpdate } from '@lib/auth';
import { DynamoClients, Entities } from '@lib/dynamo';
import { REFUSED, TenantRepository } from '@lib/tenancy';

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

/** Sessions live in the user's partition (`Entities.session`) of the current tenant's table, deleted with the user. */
@Injectable()
export class SessionsRepository extends TenantRepository {
  constructor(clients: DynamoClients) {
    super(clients);
  }

  async create(session: UserSession): Promise<void> {
    const outcome = await this.table.put(
      { ...Entities.session.key(session.userId, session.sessionId), ...session },
      { ConditionExpression: 'attribute_not_exists(pk)' },
    );
    // A session id is a new ULID: taken means something is badly wrong, never a case to handle.
    if (outcome === REFUSED) throw new Error(`session ${session.sessionId} already exists`);
  }

  async get(userId: string, sessionId: string): Promise<UserSession | undefined> {
    return this.table.get<UserSession>(Entities.session.key(userId, sessionId));
  }

  /** Writes a rotation only if the refresh hash is still the one presented; false when another refresh won. */
  async rotate(session: UserSession, rotation: RefreshRotation, expiresAt: number): Promise<boolean> {
    const outcome = await this.table.update(
      Entities.session.key(session.userId, session.sessionId),
      rotationUpdate(session.refreshHash, rotation, expiresAt),
    );
    return outcome !== REFUSED;
  }

  /** Marks the session revoked; a session that does not exist (expired, or its user deleted) stays absent. */
  async revoke(userId: string, sessionId: string): Promise<void> {
    await this.table.update(Entities.session.key(userId, sessionId), {
      UpdateExpression: 'SET revoked = :true',
      ConditionExpression: 'attribute_exists(pk)',
      ExpressionAttributeValues: { ':true': true },
    });
  }
}
