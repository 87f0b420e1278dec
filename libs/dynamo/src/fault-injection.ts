import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { FAULT_HTTP_STATUS as HTTP_STATUS, type FaultRule } from '@lib/config';

/**
 * Test-only: fails DynamoDB calls the way AWS does (throttling, 5xx), below the SDK's retry middleware, so
 * that retries, backoff and the API's 503 answers can be exercised against DynamoDB Local, which never
 * throttles. Enabled by DYNAMODB_FAULTS, which the config refuses in production.
 */
export function attachFaultInjection(client: DynamoDBClient, rules: FaultRule[]): void {
  if (rules.length === 0) return;
  client.middlewareStack.add(
    (next, context) => async (args) => {
      const operation = (context.commandName ?? '').replace(/Command$/, '');
      const rule = rules.find((r) => (r.operation === '*' || r.operation === operation) && Math.random() < r.rate);
      if (rule) {
        const status = HTTP_STATUS[rule.error];
        throw Object.assign(new Error(`injected ${rule.error}`), {
          name: rule.error,
          $fault: status >= 500 ? 'server' : 'client',
          $metadata: { httpStatusCode: status },
        });
      }
      return next(args);
    },
    { step: 'deserialize', name: 'testFaultInjection', priority: 'low' },
  );
}
