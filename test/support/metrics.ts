import { MetricsService } from '@lib/observability';
import type { TestApp } from './harness';

const sum = (text: string, pattern: RegExp) => [...text.matchAll(pattern)].reduce((n, m) => n + Number(m[1]), 0);

/**
 * DynamoDB calls the app has made for requests: every call the SDK instrumentation counted, minus the change
 * feed's own polling (about one Query a second, whatever the traffic).
 */
export async function dynamoCallsForRequests(t: TestApp): Promise<number> {
  const text = await t.app.get(MetricsService).render();
  return (
    sum(text, /^dynamodb_request_duration_seconds_count\{[^}]*\} (\d+)/gm) -
    sum(text, /^change_feed_queries_total (\d+)/gm)
  );
}

/** Change records of `kind` the app's change feed has applied to its caches so far. */
export async function changeRecordsApplied(t: TestApp, kind: string): Promise<number> {
  const text = await t.app.get(MetricsService).render();
  return sum(text, new RegExp(`^change_feed_records_applied_total\\{kind="${kind}"\\} (\\d+)`, 'gm'));
}

/**
 * Waits for the app's change feed to finish one more poll. Until a poll covers the revocation bound, the caches
 * re-read what they serve (fail closed): a test that counts a request's DynamoDB calls waits for a fresh poll so
 * that only the request's own calls are counted on a loaded machine.
 */
export async function feedPolledOnce(t: TestApp): Promise<void> {
  const polls = async () =>
    sum(await t.app.get(MetricsService).render(), /^change_feed_polls_total\{outcome="ok"\} (\d+)/gm);
  const before = await polls();
  for (let i = 0; i < 200 && (await polls()) === before; i++) await new Promise((done) => setTimeout(done, 25));
}
