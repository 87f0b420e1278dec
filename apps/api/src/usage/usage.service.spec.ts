import { summarizeUsage, USAGE_TOP_USERS } from './usage.service';

describe('summarizeUsage', () => {
  it('lists the users with the most tokens first, at most USAGE_TOP_USERS of them', () => {
    const users = Array.from({ length: 150 }, (_, i) => ({
      pk: 'USAGE#2026-11',
      sk: `USER#u${String(i).padStart(3, '0')}`,
      inputTokens: i,
      outputTokens: i % 7,
      requests: 1,
    }));
    const total = { pk: 'USAGE#2026-11', sk: 'TOTAL', inputTokens: 11_175, outputTokens: 444, requests: 150 };
    const usage = summarizeUsage('2026-11', [total, ...users]);
    expect(usage.byUser).toHaveLength(USAGE_TOP_USERS);
    // u146 has the most (146 + 6), whatever the order of the items.
    expect(usage.byUser[0]).toEqual({ userId: 'u146', inputTokens: 146, outputTokens: 6, requests: 1 });
    const tokens = usage.byUser.map((u) => u.inputTokens + u.outputTokens);
    expect(tokens).toEqual([...tokens].sort((a, b) => b - a));
    const left = users.filter((u) => !usage.byUser.some((b) => `USER#${b.userId}` === u.sk));
    expect(Math.max(...left.map((u) => u.inputTokens + u.outputTokens))).toBeLessThanOrEqual(Math.min(...tokens));
    expect(usage).toMatchObject({ month: '2026-11', inputTokens: 11_175, outputTokens: 444, requests: 150 });
  });
});
