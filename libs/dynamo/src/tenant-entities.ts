/**
 * The entities of a tenant table: each declares its key, its index attributes and its named access patterns, in
 * this one place (docs/data-model.md lists them). Repositories build keys and queries from here and never spell
 * a key (`'CHAT'`, `'MSG#'`, `'USERS'`…) themselves; `TenantTable` (libs/tenancy) turns a pattern into a Query.
 */

/** The primary key of an item. */
export type ItemKey = { pk: string; sk: string };

/** A named access pattern: the partition to read, an optional sort-key condition, an index, an order. */
export interface QuerySpec {
  index?: 'gsi1';
  /** The partition key's value (of the index when `index` is set). */
  partition: string;
  sort?: { op: 'begins_with' | '>' | '>=' | '<' | '<='; value: string };
  descending?: boolean;
  /** Strongly consistent (base table only; costs twice an eventually consistent read). */
  consistent?: boolean;
  /** Only `pk` and `sk` (deletes). */
  keysOnly?: boolean;
}

const USER = 'USER#';
const CHAT = 'CHAT#';
const MSG = 'MSG#';

const User = {
  key: (id: string): ItemKey => ({ pk: `${USER}${id}`, sk: 'USER' }),
  index: (createdAt: string, id: string) => ({ gsi1pk: 'USERS', gsi1sk: `${createdAt}#${id}` }),
  /** Every user of the tenant, oldest first. */
  all: (): QuerySpec => ({ index: 'gsi1', partition: 'USERS' }),
  /** The user's partition: the user item and their sessions (deleted with the user). */
  partition: (id: string): QuerySpec => ({ partition: `${USER}${id}` }),
};

/** The uniqueness marker of a user's e-mail (normalised), written in the user's transaction. */
const Email = {
  key: (email: string): ItemKey => ({ pk: `EMAIL#${email.trim().toLowerCase()}`, sk: 'EMAIL' }),
};

/** A refresh-token family of a user, in the user's partition. */
const Session = {
  key: (userId: string, sessionId: string): ItemKey => ({ pk: `${USER}${userId}`, sk: `SESSION#${sessionId}` }),
};

const RESET = 'RESET#';

/**
 * A single-use password-reset token of a user, in the user's partition (deleted with the user): its hash and
 * `expiresAt` (epoch seconds, the table's TTL attribute; also checked on redemption, as TTL deletes late).
 */
const PasswordReset = {
  key: (userId: string, tokenId: string): ItemKey => ({ pk: `${USER}${userId}`, sk: `${RESET}${tokenId}` }),
  /** The user's outstanding reset tokens (all invalidated once one is redeemed). */
  ofUser: (userId: string): QuerySpec => ({ partition: `${USER}${userId}`, sort: { op: 'begins_with', value: RESET } }),
};

const Role = {
  key: (id: string): ItemKey => ({ pk: `ROLE#${id}`, sk: 'ROLE' }),
  index: (name: string) => ({ gsi1pk: 'ROLES', gsi1sk: name }),
  /** Every role of the tenant, by name (≤ 100). */
  all: (): QuerySpec => ({ index: 'gsi1', partition: 'ROLES' }),
};

/** The uniqueness marker of a role's name (case-insensitive), written in the role's transaction. */
const RoleName = {
  key: (name: string): ItemKey => ({ pk: `ROLENAME#${name.trim().toLowerCase()}`, sk: 'ROLENAME' }),
};

const Chat = {
  key: (id: string): ItemKey => ({ pk: `${CHAT}${id}`, sk: 'CHAT' }),
  index: (ownerId: string, updatedAt: string, id: string) => ({
    gsi1pk: `${USER}${ownerId}#CHATS`,
    gsi1sk: `${updatedAt}#${id}`,
  }),
  /** The owner's chats, most recently updated first. */
  byOwner: (ownerId: string): QuerySpec => ({ index: 'gsi1', partition: `${USER}${ownerId}#CHATS`, descending: true }),
  /** The whole chat: its item and its messages (deleted together). */
  partition: (id: string): QuerySpec => ({ partition: `${CHAT}${id}` }),
  /** The chat's id from an item of `byOwner` (the index projects the chat's keys). */
  idOf: (item: ItemKey): string => item.pk.slice(CHAT.length),
};

const Message = {
  key: (chatId: string, messageId: string): ItemKey => ({ pk: `${CHAT}${chatId}`, sk: `${MSG}${messageId}` }),
  /**
   * The hot read: the first page is the chat item (`CHAT` sorts before `MSG#…`) then messages, oldest first;
   * later pages start after the last message's sort key (from a signed cursor).
   */
  page: (chatId: string, afterSk?: string): QuerySpec => ({
    partition: `${CHAT}${chatId}`,
    sort: afterSk ? { op: '>', value: afterSk } : { op: '>=', value: 'CHAT' },
  }),
  /** The chat's messages, newest first (the prompt's history). */
  newest: (chatId: string): QuerySpec => ({
    partition: `${CHAT}${chatId}`,
    sort: { op: 'begins_with', value: MSG },
    descending: true,
  }),
  /** Whether an item of `page` is the chat item rather than a message. */
  isChatItem: (item: { sk?: unknown }): boolean => item.sk === 'CHAT',
  /** Whether a sort key from a cursor names a message (and so may start a later page). */
  isMessageSk: (sk: string): boolean => sk.startsWith(MSG),
};

export type UsageScope = 'TOTAL' | `USER#${string}`;

/** The month's usage counters: the tenant's `TOTAL` and one per user. */
const Usage = {
  key: (month: string, scope: UsageScope): ItemKey => ({ pk: `USAGE#${month}`, sk: scope }),
  userScope: (userId: string): UsageScope => `${USER}${userId}`,
  /** Every counter of the month. */
  month: (month: string): QuerySpec => ({ partition: `USAGE#${month}` }),
  /** The user of a per-user counter, or undefined for `TOTAL`. */
  userOf: (item: { sk?: unknown }): string | undefined =>
    String(item.sk).startsWith(USER) ? String(item.sk).slice(USER.length) : undefined,
  /** Whether an item of `month` is the tenant's `TOTAL` counter. */
  isTotal: (item: { sk?: unknown }): boolean => item.sk === 'TOTAL',
};

/** An Idempotency-Key of a user (24 h TTL). */
const IdempotencyKey = {
  key: (userId: string, key: string): ItemKey => ({ pk: `IDEMP#${userId}#${key}`, sk: 'IDEMP' }),
};

const GEN = 'GEN#';
const CHUNK = 'CHUNK#';
/** A character offset in a sort key: zero-padded so that keys sort as numbers (replies are < 10^9 characters). */
const offsetKey = (offset: number) => `${CHUNK}${String(offset).padStart(9, '0')}`;

/**
 * A reply being generated (docs/streaming.md): its own partition per assistant message, outside the chat's, so
 * that the hot message page never reads its pieces. `STATE` (status, lease, cancel flag, what to settle) sorts
 * after the `CHUNK#<end offset>` items (the text of each flush), so one Query returns the text after an offset
 * and the state. Every item carries a short TTL: once the reply is final, the message item holds the text.
 */
const Generation = {
  state: (chatId: string, messageId: string): ItemKey => ({ pk: `${GEN}${chatId}#${messageId}`, sk: 'STATE' }),
  /** The text of one flush, keyed by the reply's length after it. */
  chunk: (chatId: string, messageId: string, end: number): ItemKey => ({
    pk: `${GEN}${chatId}#${messageId}`,
    sk: offsetKey(end),
  }),
  /** A follower's poll: the chunks that end after `offset`, in order, then the state item (consistent). */
  after: (chatId: string, messageId: string, offset: number): QuerySpec => ({
    partition: `${GEN}${chatId}#${messageId}`,
    sort: { op: '>', value: offsetKey(offset) },
    consistent: true,
  }),
  /** Whether an item of `after` is the state item rather than a chunk. */
  isState: (item: { sk?: unknown }): boolean => item.sk === 'STATE',
  /** The reply's length after a chunk (its sort key's offset). */
  endOf: (item: { sk?: unknown }): number => Number(String(item.sk).slice(CHUNK.length)),
};

/** A tenant's API key (a service principal); only the hash of its secret is stored (docs/api-keys.md). */
const ApiKey = {
  key: (id: string): ItemKey => ({ pk: `APIKEY#${id}`, sk: 'APIKEY' }),
  index: (createdAt: string, id: string) => ({ gsi1pk: 'APIKEYS', gsi1sk: `${createdAt}#${id}` }),
  /** Every API key of the tenant, oldest first. */
  all: (): QuerySpec => ({ index: 'gsi1', partition: 'APIKEYS' }),
};

/** The entities of a tenant table, by name: `Entities.chat.byOwner(ownerId)`. */
export const Entities = {
  user: User,
  email: Email,
  session: Session,
  passwordReset: PasswordReset,
  role: Role,
  roleName: RoleName,
  chat: Chat,
  message: Message,
  usage: Usage,
  idempotencyKey: IdempotencyKey,
  generation: Generation,
  apiKey: ApiKey,
};

/** Key builders of the tenant tables (the declarations above, by their former names). */
export const TenantKeys = {
  user: User.key,
  userIndex: User.index,
  email: Email.key,
  session: Session.key,
  role: Role.key,
  roleIndex: Role.index,
  roleName: RoleName.key,
  chat: Chat.key,
  chatIndex: Chat.index,
  message: Message.key,
  usage: Usage.key,
  idempotency: IdempotencyKey.key,
};
