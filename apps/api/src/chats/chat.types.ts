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
export type MessageStatus = 'complete' | 'incomplete';

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
