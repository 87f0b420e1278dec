import { encode } from 'gpt-tokenizer';
import type { LlmMessage } from './llm-provider';

/** Tokens of a text, counted with the o200k tokenizer (gpt-tokenizer). */
export function countTokens(text: string): number {
  return encode(text).length;
}

/** Per-message overhead of the chat format (role and separators), as OpenAI documents it: about 4 tokens. */
const MESSAGE_OVERHEAD = 4;

export function countMessageTokens(message: LlmMessage): number {
  return countTokens(message.content) + MESSAGE_OVERHEAD;
}

/**
 * The prompt: the system prompt, then as many of the most recent messages (oldest first) as fit `budget`
 * tokens. The newest message is always included.
 */
export function buildPrompt(systemPrompt: string, history: LlmMessage[], budget: number): LlmMessage[] {
  const system: LlmMessage[] = systemPrompt ? [{ role: 'system', content: systemPrompt }] : [];
  let used = system.reduce((n, m) => n + countMessageTokens(m), 0);
  const kept: LlmMessage[] = [];
  for (let i = history.length - 1; i >= 0; i--) {
    const cost = countMessageTokens(history[i]);
    if (kept.length > 0 && used + cost > budget) break;
    kept.unshift(history[i]);
    used += cost;
  }
  return [...system, ...kept];
}
