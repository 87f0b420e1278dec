import { DynamoClients, transactWrite } from '@lib/dynamo';
import { type Change, ChangeFeed } from '@lib/tenancy';
import { startApp, type TestApp } from '../support/harness';

const HOUR = 3_600_000;
const MINUTE = 60_000;

/**
 * The change feed's reading rules, driven through one instance's feed with its clock set by the test: records
 * across hour partitions, writers whose clocks differ, a long pause, and a gap longer than records are kept.
 */
describe('change feed polling', () => {
  let t: TestApp;
  let feed: ChangeFeed;
  let clients: DynamoClients;
  const seen: string[] = [];

  beforeAll(async () => {
    t = await startApp();
    feed = t.app.get(ChangeFeed);
    clients = t.app.get(DynamoClients);
    await feed.onModuleDestroy(); // no background polling (one in flight ends first): the test calls poll()
    feed.subscribe('user', (c: Change) => seen.push(c.id as string));
  });
  afterAll(() => t.close());

  /** Writes a change record as a writer whose clock reads `at`. */
  async function writeAt(at: number, id: string): Promise<void> {
    feed.clock = () => at;
    expect(await transactWrite(clients.doc, [feed.entry({ kind: 'user', tenantId: 'T', id })])).toBeUndefined();
  }
  async function pollAt(at: number): Promise<void> {
    feed.clock = () => at;
    await feed.poll();
  }

  it('applies records across hour partitions, from writers behind and ahead, once each', async () => {
    const base = Math.floor(Date.now() / HOUR) * HOUR - 3 * HOUR; // three hours ago, on the hour
    seen.length = 0;
    await pollAt(base - 10_000); // last poll ten seconds before the hour
    await writeAt(base - 2_000, 'behind-old-hour'); // a writer 2 s behind, still in the previous hour
    await writeAt(base + 20_000, 'ahead-next-minute'); // a writer 20 s ahead
    await pollAt(base + 500);
    expect(seen.sort()).toEqual(['ahead-next-minute', 'behind-old-hour']);
    await pollAt(base + 1_500); // the overlap re-reads them: nothing is applied twice
    expect(seen).toHaveLength(2);
  });

  it('after a pause of hours, reads every hour partition in between', async () => {
    const base = Math.floor(Date.now() / HOUR) * HOUR - 6 * HOUR;
    seen.length = 0;
    await pollAt(base + 5 * MINUTE);
    await writeAt(base + 70 * MINUTE, 'one-hour-later');
    await writeAt(base + 130 * MINUTE, 'two-hours-later');
    await writeAt(base + 190 * MINUTE, 'three-hours-later');
    await pollAt(base + 200 * MINUTE);
    expect(seen.sort()).toEqual(['one-hour-later', 'three-hours-later', 'two-hours-later']);
  });

  it('distrusts every entry loaded before a gap longer than records are kept', async () => {
    const now = Date.now();
    await pollAt(now - 25 * HOUR);
    const loadedBefore = now - 24 * HOUR;
    expect(feed.trusts(now - 25 * HOUR)).toBe(true); // just loaded, as far as that clock knows
    await pollAt(now);
    expect(feed.trusts(loadedBefore)).toBe(false);
    expect(feed.trusts(now - 1)).toBe(false); // loaded before the gap was noticed
    expect(feed.trusts(now + 1)).toBe(true); // loaded after it
  });

  it('while the feed cannot be read, trusts only entries younger than the revocation bound', async () => {
    const now = Date.now();
    await pollAt(now);
    const bound = t.config.changeFeed.revocationBoundMs;
    feed.clock = () => now + bound + 1_000; // no successful poll since `now`
    expect(feed.trusts(now - 10)).toBe(false);
    expect(feed.trusts(now + bound + 500)).toBe(true);
    await pollAt(now + bound + 1_000); // read again: older entries are vouched for again
    expect(feed.trusts(now + 1)).toBe(true);
  });
});
