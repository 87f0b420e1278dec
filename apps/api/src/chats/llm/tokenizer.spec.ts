import { encode } from 'gpt-tokenizer';
import { randomBytes } from 'node:crypto';
import { buildPrompt, type CountedMessage, countTokens, MAX_PIECE_CHARS } from './tokenizer';

const plain = { disallowedSpecial: new Set<string>() };
const exact = (text: string) => encode(text, plain).length;

const prose =
  'The quick brown fox jumps over the lazy dog. Tokenizers split text into words first, then merge bytes.\n' +
  "It's 2025: prices rose 3.5% (see https://example.com/a?b=c), and   spaces,\ttabs\r\nand lines count too. ";

describe('countTokens', () => {
  it('counts ordinary text exactly as the o200k tokenizer does, however long', () => {
    for (const text of ['', 'hello', prose, prose.repeat(40), `中文的句子。${prose}`.repeat(20)]) {
      expect(countTokens(text)).toBe(exact(text));
    }
  });

  it('counts worst-case runs (one long word) within a token per piece of the exact count', () => {
    // Small enough for the exact (quadratic) count to stay quick, several pieces long.
    const random = randomBytes(3_000).toString('base64');
    let letters = '';
    for (let i = 0; i < 4_000; i++) letters += String.fromCharCode(97 + ((i * 7919) % 26));
    for (const text of ['c'.repeat(4_000), '中'.repeat(2_000), random, letters]) {
      const pieces = Math.ceil(text.length / MAX_PIECE_CHARS);
      expect(Math.abs(countTokens(text) - exact(text))).toBeLessThanOrEqual(pieces);
    }
  });

  it('never splits a surrogate pair: emoji runs count as the whole text does', () => {
    const emoji = '😀'.repeat(2_000);
    expect(countTokens(emoji)).toBe(exact(emoji));
    const odd = `x${'😀'.repeat(2_000)}`;
    expect(Math.abs(countTokens(odd) - exact(odd))).toBeLessThanOrEqual(Math.ceil(odd.length / MAX_PIECE_CHARS));
  });

  it('counts text that spells a special token as plain text instead of throwing', () => {
    expect(countTokens('say <|endoftext|> please')).toBe(exact('say <|endoftext|> please'));
  });
});

describe('buildPrompt', () => {
  const msg = (content: string, tokens: number, role: 'user' | 'assistant' = 'user'): CountedMessage => ({
    role,
    content,
    tokens,
  });

  it('uses the counts the messages carry: keeps the newest that fit the budget, and always the last one', () => {
    const system = msg('be brief', 10) as CountedMessage;
    system.role = 'system';
    const history = [msg('a', 50), msg('b', 30, 'assistant'), msg('c', 40)];
    expect(buildPrompt(system, history, 85)).toEqual({
      messages: [
        { role: 'system', content: 'be brief' },
        { role: 'assistant', content: 'b' },
        { role: 'user', content: 'c' },
      ],
      tokens: 80,
    });
    expect(buildPrompt(undefined, [msg('huge', 9_000)], 100)).toEqual({
      messages: [{ role: 'user', content: 'huge' }],
      tokens: 9_000,
    });
  });
});
