export interface ChatRecord {
  id: string;
  ownerId: string;
  title: string;
  systemPrompt: string;
  model: string;
  messageCount: number;
  createdAt: string;
  updatedAt: string;
  version: number;
  /** Epoch seconds (tenant retention); DynamoDB TTL removes the item, reads skip it before that. */
  expiresAt?: number;
}

export type MessageRole = 'user' | 'assistant' | 'system';
/**
 * `generating` while an assistant reply is produced (docs/streaming.md); then `complete`, `incomplete` (cancelled,
 * stopped at the maximum duration, or its instance died) or `failed` (the provider failed).
 */
export type MessageStatus = 'generating' | 'complete' | 'incomplete' | 'failed';

export interface MessageRecord {
  id: string;
  chatId: string;
  role: MessageRole;
  content: string;
  status: MessageStatus;
  model?: string;
  usage?: { inputTokens: number; outputTokens: number };
  /** Tokens of `content` plus the chat format's overhead, counted once when stored (absent on older messages). */
  tokens?: number;
  createdAt: string;
  expiresAt?: number;
}

export function isExpired(item: { expiresAt?: number }, nowSeconds = Math.floor(Date.now() / 1000)): boolean {
  return item.expiresAt !== undefined && item.expiresAt <= nowSeconds;
}

/** What a generation's final write settles on the month's usage counters (see QuotaReservation). */
export interface Settlement {
  month: string;
  userId: string;
  /** The tokens set aside for the exchange, replaced by its real usage. */
  reserved: number;
  inputTokens: number;
}

/** The state item of a running generation (Entities.generation.state). */
export interface GenerationState {
  status: MessageStatus;
  /** The run that generates: only it may flush or finish while the status is `generating`. */
  runId: string;
  /** Epoch ms; renewed by every flush. A reader that finds it past ends the reply as incomplete. */
  leaseUntil: number;
  /** Set by a cancel from any instance; the generator's next flush is refused and it stops. */
  cancelRequested?: boolean;
  settlement: Settlement;
  /** Epoch seconds (DynamoDB TTL): the state and its chunks are transient. */
  expiresAt: number;
}
