import { assemble } from './generation.service';

/** Chunks as a flush writes them: the text since the previous flush, keyed by the reply's length after it. */
const chunk = (text: string, end: number) => ({ text, end });

describe('assemble (a follower extends the text it has with the chunks it read)', () => {
  it('appends chunks in order from nothing, and from an offset inside a chunk', () => {
    const chunks = [chunk('Once ', 5), chunk('upon a ', 12), chunk('time', 16)];
    expect(assemble('', chunks)).toBe('Once upon a time');
    // A poll after offset 7 returns the chunks that end after it: the first one starts before it.
    expect(assemble('Once up', chunks.slice(1))).toBe('Once upon a time');
  });

  it('skips what it has and the overlap of a flush retried with more text (no repeat)', () => {
    // A flush whose renewal failed is retried with the text produced since: a longer chunk from the same start.
    const chunks = [chunk('ab', 2), chunk('cd', 4), chunk('cdef', 6), chunk('g', 7)];
    expect(assemble('', chunks)).toBe('abcdefg');
    expect(assemble('abcde', chunks)).toBe('abcdefg');
  });

  it('stops at a gap instead of inventing text (the next poll fills it)', () => {
    expect(assemble('ab', [chunk('ef', 6), chunk('g', 7)])).toBe('ab');
    expect(assemble('', [chunk('ab', 2), chunk('ef', 6)])).toBe('ab');
  });
});
