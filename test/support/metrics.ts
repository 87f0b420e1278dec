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
