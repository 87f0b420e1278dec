import { type RefreshFamily, type RefreshRotation, type RefreshStore, rotationUpdate } from './refresh-token';

/**
 * A refresh-token family, one per login, rotated on every refresh: the one session item of tenant users (in the
 * user's partition of the tenant table) and of operators (in the control table).
 */
export interface RefreshSession extends RefreshFamily {
  /** The user or operator. */
  ownerId: string;
  sessionId: string;
  /** Epoch seconds, compared with `tokensValidAfter` (seconds, like a token's `iat`). */
  createdAt: number;
}

export interface SessionKey {
  pk: string;
  sk: string;
}

/** A conditional update of a session item (document-client values). */
export interface SessionUpdate {
  UpdateExpression: string;
  ConditionExpression: string;
  ExpressionAttributeValues: Record<string, unknown>;
}

/** Marks a session revoked; refused (and nothing written) when the session does not exist. */
export const REVOKE_SESSION: SessionUpdate = {
  UpdateExpression: 'SET revoked = :true',
  ConditionExpression: 'attribute_exists(pk)',
  ExpressionAttributeValues: { ':true': true },
};

/** Where session items live: the tenant's table, or the control table. */
export interface SessionItems {
  key(ownerId: string, sessionId: string): SessionKey;
  /** Writes a new item, refused when its key exists (a session id is a new ULID: that is a bug, so it throws). */
  create(item: RefreshSession & SessionKey): Promise<void>;
  /** The stored item (consistent read), as stored. */
  get(key: SessionKey): Promise<Record<string, unknown> | undefined>;
  /** Applies `update`; false when its condition refused it. */
  update(key: SessionKey, update: SessionUpdate): Promise<boolean>;
  /** Marks the session revoked (`REVOKE_SESSION`); a session that does not exist stays absent. */
  revoke(key: SessionKey): Promise<void>;
}

/**
 * Epoch seconds of a stored `createdAt`. Operator sessions written before sessions were one item type carry an
 * ISO string; they live at most the refresh lifetime (30 days), so both are read rather than migrated.
 */
function epochSeconds(createdAt: unknown): number {
  return typeof createdAt === 'string' ? Math.floor(Date.parse(createdAt) / 1000) : Number(createdAt);
}

/**
 * The refresh sessions of one kind of owner: creation, read, rotation (the conditional write of the shared rule,
 * `rotationUpdate`) and revocation, whichever table `items` reaches.
 */
export class RefreshSessions {
  constructor(private readonly items: SessionItems) {}

  /** A new session (the login), its refresh token's hash current and its history empty. */
  async create(ownerId: string, sessionId: string, refreshHash: string, expiresAt: number): Promise<void> {
    await this.items.create({
      ...this.items.key(ownerId, sessionId),
      ownerId,
      sessionId,
      refreshHash,
      previousHashes: [],
      revoked: false,
      createdAt: Math.floor(Date.now() / 1000),
      expiresAt,
    });
  }

  async get(ownerId: string, sessionId: string): Promise<RefreshSession | undefined> {
    const item = await this.items.get(this.items.key(ownerId, sessionId));
    if (!item) return undefined;
    const { pk: _pk, sk: _sk, ...session } = item;
    return { ...(session as unknown as RefreshSession), ownerId, sessionId, createdAt: epochSeconds(item.createdAt) };
  }

  /** Writes a rotation only if the refresh hash is still the one presented; false when another refresh won. */
  rotate(session: RefreshSession, rotation: RefreshRotation, expiresAt: number): Promise<boolean> {
    return this.items.update(
      this.items.key(session.ownerId, session.sessionId),
      rotationUpdate(session.refreshHash, rotation, expiresAt),
    );
  }

  /** Marks the session revoked; a session that does not exist (expired, or its owner deleted) stays absent. */
  revoke(ownerId: string, sessionId: string): Promise<void> {
    return this.items.revoke(this.items.key(ownerId, sessionId));
  }

  /** The session of one refresh token, for `redeemRefreshToken`; `expiresAt` dates each rotation. */
  store(ownerId: string, sessionId: string, expiresAt: () => number): RefreshStore<RefreshSession> {
    return {
      load: () => this.get(ownerId, sessionId),
      rotate: (session, rotation) => this.rotate(session, rotation, expiresAt()),
      revoke: () => this.revoke(ownerId, sessionId),
    };
  }
}
