'use strict';
/**
 * Token counting on the worst inputs a chat message may carry (32 000 characters, the content limit), before
 * and after issue 11's fix, side by side in one run:
 *
 * - before: gpt-tokenizer's `encode(text).length` on the whole text, as the API counted until then (BPE merges
 *   each pre-tokenized word in time quadratic in its length; a run of one character is one word);
 * - after:  the API's `countTokens` (apps/api/src/chats/llm/tokenizer.ts): pieces of at most 256 characters.
 *
 * Prints ms per KB of UTF-8 (the worst of REPEAT runs, each on a fresh variant of the input with the
 * tokenizer's merge cache cleared first, so nothing is served from an earlier run) and the token counts.
 * No server, no database: one synchronous call each, which is exactly how long the API's event loop blocks.
 *
 * The `after` module is the build's (`npm run build` first): BENCH_DIST (default dist/apps/api) + the
 * tokenizer's path, or TOKENIZER_MODULE naming a compiled tokenizer.js.
 */
const path = require('node:path');
const { randomBytes } = require('node:crypto');
const gpt = require('gpt-tokenizer');

const REPEAT = Number(process.env.REPEAT ?? 3);
const dist = path.resolve(__dirname, '..', process.env.BENCH_DIST ?? 'dist/apps/api');
const modulePath = process.env.TOKENIZER_MODULE
  ? path.resolve(process.env.TOKENIZER_MODULE)
  : path.join(dist, 'apps/api/src/chats/llm/tokenizer.js');
const after = require(modulePath);
if (typeof after.MAX_PIECE_CHARS !== 'number') {
  console.error(`${modulePath} is a build from before the fix: run npm run build first`);
  process.exit(1);
}

const plain = { disallowedSpecial: new Set() };
const before = (text) => gpt.encode(text, plain).length;

const letters = (n, seed) => {
  const bytes = randomBytes(n);
  let s = '';
  for (let i = 0; i < n; i++) s += String.fromCharCode(97 + ((bytes[i] + seed) % 26));
  return s;
};
const prose = (n) => {
  const words = 'the of and to in is that it for was on are as with his they at be this from have or by one had'.split(
    ' ',
  );
  const bytes = randomBytes(n);
  let s = '';
  for (let i = 0; s.length < n; i++) s += (i % 12 === 11 ? '. ' : ' ') + words[bytes[i % n] % words.length];
  return s.slice(0, n);
};

/** Each input: a function of the repetition, so every run sees text the merge cache has not seen. */
const inputs = [
  ['32 000 × one letter ("c", "d", …)', (r) => String.fromCharCode(99 + r).repeat(32_000)],
  ['16 000 × one ideograph ("中", "文", …)', (r) => ['中', '文', '字', '国', '人'][r % 5].repeat(16_000)],
  ['32 000 random lowercase letters', (r) => letters(32_000, r)],
  ['32 000 chars of random base64', () => randomBytes(24_000).toString('base64')],
  ['32 000 chars of English-like prose', () => prose(32_000)],
];

function measure(count, text) {
  gpt.clearMergeCache();
  const start = process.hrtime.bigint();
  const tokens = count(text);
  return { ms: Number(process.hrtime.bigint() - start) / 1e6, tokens };
}

// Warm both paths (JIT) on text that is not measured.
for (let i = 0; i < 3; i++) {
  before(prose(4_000));
  after.countTokens(prose(4_000));
}

const rows = [];
for (const [label, make] of inputs) {
  let worstBefore = { ms: 0, tokens: 0 };
  let worstAfter = { ms: 0, tokens: 0 };
  let kb = 0;
  let tokens = '';
  for (let r = 0; r < REPEAT; r++) {
    const text = make(r);
    kb = Buffer.byteLength(text) / 1024;
    // Alternate which goes first, so neither always meets a warmer cache or a calmer machine.
    const pair = r % 2 === 0 ? [measure(before, text), measure(after.countTokens, text)] : [null, null];
    if (r % 2 === 1) {
      pair[1] = measure(after.countTokens, text);
      pair[0] = measure(before, text);
    }
    if (r === 0) tokens = `${pair[0].tokens}/${pair[1].tokens}`;
    if (pair[0].ms > worstBefore.ms) worstBefore = pair[0];
    if (pair[1].ms > worstAfter.ms) worstAfter = pair[1];
  }
  const speedup = worstBefore.ms / worstAfter.ms;
  rows.push({
    input: label,
    KB: kb.toFixed(1),
    'before ms/KB': (worstBefore.ms / kb).toFixed(3),
    'after ms/KB': (worstAfter.ms / kb).toFixed(3),
    'before ms': worstBefore.ms.toFixed(1),
    'after ms': worstAfter.ms.toFixed(1),
    // One decimal below 10x: the ordinary case is near 1x (or under), which "0x" or "1x" would hide.
    speedup: `${speedup.toFixed(speedup < 10 ? 1 : 0)}x`,
    'tokens before/after (1st run)': tokens,
  });
}

console.log(
  `token counting, worst of ${REPEAT} runs per input (merge cache cleared before each), node ${process.version}`,
);
console.table(rows);
