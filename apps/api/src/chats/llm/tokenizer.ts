import { countTokens as countBpeTokens } from 'gpt-tokenizer';
import type { LlmMessage } from './llm-provider';

/**
 * Longest piece of text handed to the BPE tokenizer at once. gpt-tokenizer merges each pre-tokenized word in
 * time quadratic in its length, and a run of one letter or ideograph (32 000 × "c", 16 000 × "中") or a long
 * random word is one such word: counted whole, one message blocked the event loop for seconds. Pieces of at
 * most this many characters bound that work per character, so counting is linear in the text.
 */
export const MAX_PIECE_CHARS = 256;

/**
 * Text that spells a special token ("<|endoftext|>") is counted as the plain text it is: by default the
 * tokenizer throws on it, which failed the message.
 */
const PLAIN_TEXT = { disallowedSpecial: new Set<string>() };

const isSpace = (code: number) => code === 0x20 || (code >= 0x09 && code <= 0x0d);

/**
 * Where to end the piece that starts at `start`: before a single space that follows a non-space and precedes
 * one (the tokenizer starts a new word there anyway, so the count of ordinary text is exact); without one in
 * reach, at the bound itself (a word longer than the bound is counted in parts: a token or so more per cut),
 * never between the two halves of a surrogate pair.
 */
function pieceEnd(text: string, start: number): number {
  const limit = start + MAX_PIECE_CHARS;
  if (limit >= text.length) return text.length;
  for (let i = limit; i > start + 1; i--) {
    if (
      text.charCodeAt(i) === 0x20 &&
      !isSpace(text.charCodeAt(i - 1)) &&
      i + 1 < text.length &&
      !isSpace(text.charCodeAt(i + 1))
    )
      return i;
  }
  const last = text.charCodeAt(limit - 1);
  return last >= 0xd800 && last <= 0xdbff ? limit - 1 : limit;
}

/**
 * Tokens of a text with the o200k tokenizer (gpt-tokenizer), in time linear in its length: exact for ordinary
 * text, within a token per cut for words longer than MAX_PIECE_CHARS. Called once per message; the count is
 * stored with the message.
 */
export function countTokens(text: string): number {
  let tokens = 0;
  for (let start = 0; start < text.length; ) {
    const end = pieceEnd(text, start);
    tokens += countBpeTokens(start === 0 && end === text.length ? text : text.slice(start, end), PLAIN_TEXT);
    start = end;
  }
  return tokens;
}

/** Per-message overhead of the chat format (role and separators), as OpenAI documents it: about 4 tokens. */
export const MESSAGE_OVERHEAD = 4;

/** A prompt message with its token count (content plus overhead), counted once. */
export interface CountedMessage extends LlmMessage {
  tokens: number;
}

export function countMessageTokens(message: LlmMessage): number {
  return countTokens(message.content) + MESSAGE_OVERHEAD;
}

export interface Prompt {
  messages: LlmMessage[];
  /** Tokens of the whole prompt, from the counts of its messages. */
  tokens: number;
}

/**
 * The prompt: the system prompt, then as many of the most recent messages (oldest first) as fit `budget`
 * tokens. The newest message is always included. Uses the counts the messages carry: nothing is re-counted.
 */
export function buildPrompt(system: CountedMessage | undefined, history: CountedMessage[], budget: number): Prompt {
  let used = system?.tokens ?? 0;
  const kept: CountedMessage[] = [];
  for (let i = history.length - 1; i >= 0; i--) {
    const cost = history[i].tokens;
    if (kept.length > 0 && used + cost > budget) break;
    kept.unshift(history[i]);
    used += cost;
  }
  const messages = [...(system ? [system] : []), ...kept].map(({ role, content }) => ({ role, content }));
  return { messages, tokens: used };
}
