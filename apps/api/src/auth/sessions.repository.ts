import { Injectable } from '@nestjs/common';
import {
  REVOKE_SESSION,
  type RefreshSession,
  RefreshSessions,
  type SessionItems,
  type SessionKey,
  type SessionUpdate,
} from '@lib/auth';
import { DynamoClients, Entities } from '@lib/dynamo';
import { REFUSED, TenantRepository } from '@lib/tenancy';

/**
 * Where tenant users' refresh sessions live: the user's partition (`Entities.session`) of the current tenant's
 * table, deleted with the user. The session logic itself is shared with operators (`RefreshSessions`, libs/auth).
 */
@Injectable()
export class SessionsRepository extends TenantRepository implements SessionItems {
  /** The users' sessions, in the tenant of the request context. */
  readonly sessions = new RefreshSessions(this);

  constructor(clients: DynamoClients) {
    super(clients);
  }

  key(userId: string, sessionId: string): SessionKey {
    return Entities.session.key(userId, sessionId);
  }

  async create(item: RefreshSession & SessionKey): Promise<void> {
    const outcome = await this.table.put({ ...item }, { ConditionExpression: 'attribute_not_exists(pk)' });
    if (outcome === REFUSED) throw new Error(`session ${item.sessionId} already exists`);
  }

  get(key: SessionKey): Promise<Record<string, unknown> | undefined> {
    return this.table.get(key);
  }

  async update(key: SessionKey, update: SessionUpdate): Promise<boolean> {
    return (await this.table.update(key, update)) !== REFUSED;
  }

  async revoke(key: SessionKey): Promise<void> {
    await this.update(key, REVOKE_SESSION);
  }
}
