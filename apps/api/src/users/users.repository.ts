import { Injectable } from '@nestjs/common';
import { DynamoClients, type DynamoKey, Entities } from '@lib/dynamo';
import { ChangeFeed, REFUSED, TenantRepository, type TxOp } from '@lib/tenancy';
import type { PasswordResetRecord, UserRecord } from './user.types';

export type UserWriteResult = 'ok' | 'email_taken' | 'role_missing' | 'last_owner' | 'version';

/**
 * One item of a user transaction with what its condition's refusal means, set where the item is built (an item
 * without a condition has none), so that a refused transaction is read by its refused items' meanings alone.
 */
type Step = TxOp<Exclude<UserWriteResult, 'ok'>>;

type UserChanges = Partial<Pick<UserRecord, 'name' | 'roleIds' | 'disabled' | 'tokensValidAfter' | 'passwordHash'>>;

export interface RoleCounterChange {
  roleId: string;
  assigned: number;
  enabled: number;
  /** Set on the owner role when it loses an enabled holder: refused if it was the last. */
  keepOneEnabled: boolean;
}

/** Users of the current tenant (table from the request context). */
@Injectable()
export class UsersRepository extends TenantRepository {
  constructor(
    clients: DynamoClients,
    private readonly feed: ChangeFeed,
  ) {
    super(clients);
  }

  /** The change record of a write that alters the user's access: other instances drop their cached copy. */
  private changed(userId: string): Step {
    return { foreign: this.feed.entry({ kind: 'user', tenantId: this.tenant.id, id: userId }) };
  }

  async get(id: string): Promise<UserRecord | undefined> {
    return this.table.get<UserRecord>(Entities.user.key(id));
  }

  async getByEmail(email: string): Promise<UserRecord | undefined> {
    const marker = await this.table.get<{ ownerId: string }>(Entities.email.key(email));
    return marker ? this.get(marker.ownerId) : undefined;
  }

  /** A page of users, oldest first. */
  async page(
    limit: number,
    start: DynamoKey | undefined,
  ): Promise<{ items: UserRecord[]; lastKey: DynamoKey | undefined }> {
    return this.table.query<UserRecord>(Entities.user.all(), { limit, start });
  }

  /** The user, its email marker and its roles' counters, in one transaction. */
  async create(user: UserRecord): Promise<UserWriteResult> {
    return this.transact([
      {
        put: { ...Entities.user.key(user.id), ...Entities.user.index(user.createdAt, user.id), ...user },
        when: { ConditionExpression: 'attribute_not_exists(pk)' },
        // The id is a new ULID: taken only if this very write already happened.
        refusal: 'version',
      },
      {
        put: { ...Entities.email.key(user.email), ownerId: user.id, createdAt: user.createdAt },
        when: { ConditionExpression: 'attribute_not_exists(pk)' },
        refusal: 'email_taken',
      },
      ...user.roleIds.map((roleId) =>
        this.counter({ roleId, assigned: 1, enabled: user.disabled ? 0 : 1, keepOneEnabled: false }),
      ),
    ]);
  }

  /** Applies `changes` at the user's current version, with the role counter changes they imply. */
  async update(
    current: UserRecord,
    changes: UserChanges,
    counters: RoleCounterChange[],
    updatedAt: string,
  ): Promise<UserWriteResult> {
    return this.transact([
      this.userUpdate(current, changes, updatedAt),
      ...counters.filter((c) => c.assigned !== 0 || c.enabled !== 0).map((c) => this.counter(c)),
      this.changed(current.id),
    ]);
  }

  /** Stores a password-reset token (its hash) in the user's partition. */
  async createPasswordReset(reset: PasswordResetRecord): Promise<void> {
    const outcome = await this.table.put(
      { ...Entities.passwordReset.key(reset.userId, reset.tokenId), ...reset },
      { ConditionExpression: 'attribute_not_exists(pk)' },
    );
    if (outcome === REFUSED) throw new Error(`password reset ${reset.tokenId} already exists`);
  }

  async getPasswordReset(userId: string, tokenId: string): Promise<PasswordResetRecord | undefined> {
    return this.table.get<PasswordResetRecord>(Entities.passwordReset.key(userId, tokenId));
  }

  /**
   * Redeems a reset token in one transaction: the token item is deleted only while it still holds `tokenHash`
   * and has not expired at `now` (so it is used once), and `changes` (the new hash, the revocation) apply at the
   * user's version, with the user's change record. `token_used` when the token is gone, `version` when the user
   * changed meanwhile.
   */
  async redeemPasswordReset(
    current: UserRecord,
    reset: { tokenId: string; tokenHash: string; now: number },
    changes: UserChanges,
    updatedAt: string,
  ): Promise<'ok' | 'token_used' | 'version'> {
    const result = await this.table.transact<Exclude<UserWriteResult, 'ok'> | 'token_used'>([
      {
        delete: Entities.passwordReset.key(current.id, reset.tokenId),
        when: {
          ConditionExpression: 'tokenHash = :hash AND expiresAt > :now',
          ExpressionAttributeValues: { ':hash': reset.tokenHash, ':now': reset.now },
        },
        refusal: 'token_used',
      },
      this.userUpdate(current, changes, updatedAt),
      this.changed(current.id),
    ]);
    if (result.committed) return 'ok';
    return result.refused.includes('token_used') ? 'token_used' : 'version';
  }

  /** Deletes every outstanding reset token of the user. */
  async deletePasswordResets(userId: string): Promise<void> {
    await this.table.deleteAll(Entities.passwordReset.ofUser(userId));
  }

  /** The update of the user item at its version (`version` when it changed since it was read). */
  private userUpdate(current: UserRecord, changes: UserChanges, updatedAt: string): Step {
    const names: Record<string, string> = { '#version': 'version' };
    const values: Record<string, unknown> = { ':v': current.version, ':one': 1 };
    const sets = Object.entries({ ...changes, updatedAt }).map(([field, value], i) => {
      names[`#f${i}`] = field;
      values[`:f${i}`] = value;
      return `#f${i} = :f${i}`;
    });
    return {
      update: Entities.user.key(current.id),
      spec: {
        UpdateExpression: `SET ${sets.join(', ')} ADD #version :one`,
        ConditionExpression: '#version = :v',
        ExpressionAttributeNames: names,
        ExpressionAttributeValues: values,
      },
      refusal: 'version',
    };
  }

  /** Deletes the user, its email marker and its role assignments (one transaction), then its sessions. */
  async delete(current: UserRecord, counters: RoleCounterChange[]): Promise<UserWriteResult> {
    const result = await this.transact([
      {
        delete: Entities.user.key(current.id),
        when: {
          ConditionExpression: '#version = :v',
          ExpressionAttributeNames: { '#version': 'version' },
          ExpressionAttributeValues: { ':v': current.version },
        },
        refusal: 'version',
      },
      { delete: Entities.email.key(current.email) },
      ...counters.map((c) => this.counter(c)),
      this.changed(current.id),
    ]);
    // Sessions live in the user's partition: with the user item gone, remove what is left of it.
    if (result === 'ok') await this.table.deleteAll(Entities.user.partition(current.id));
    return result;
  }

  /** A role's counters move; refused when the role is gone, or (keepOneEnabled) its last enabled holder leaves. */
  private counter(c: RoleCounterChange): Step {
    const values: Record<string, number> = { ':a': c.assigned, ':e': c.enabled };
    let condition = 'attribute_exists(pk)';
    if (c.keepOneEnabled) {
      condition += ' AND enabledCount > :one';
      values[':one'] = 1;
    }
    return {
      update: Entities.role.key(c.roleId),
      spec: {
        UpdateExpression: 'ADD assignedCount :a, enabledCount :e',
        ConditionExpression: condition,
        ExpressionAttributeValues: values,
      },
      refusal: c.keepOneEnabled ? 'last_owner' : 'role_missing',
    };
  }

  /**
   * Runs the steps as one transaction; when conditions refuse it, the first refused step (in order) says what it
   * means. A cancellation with no refused condition reads as a concurrent change of the user ('version').
   */
  private async transact(steps: Step[]): Promise<UserWriteResult> {
    const result = await this.table.transact(steps);
    return result.committed ? 'ok' : (result.refused[0] ?? 'version');
  }
}
