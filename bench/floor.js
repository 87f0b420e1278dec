'use strict';
/**
 * The floor: the same GetItem as `GET /v1/platform/me` (control table, ConsistentRead) called straight from Node
 * with the SDK's DocumentClient (keep-alive agent, as the API's), no HTTP server in between. A closed loop of
 * CONCURRENCY workers for SECONDS; reports { requests, seconds, rps, p50, p99 (ms), errors, cpuUs } where cpuUs
 * is this process's CPU (user+system) per GetItem: the SDK's client-side cost at full load.
 *
 * Forked by bench/platform-me.js with IPC: it stays up (warm JIT and sockets, like the servers) and runs one
 * window per `{ run: { seconds, concurrency } }` message, answering with the result. Without IPC it runs one
 * window from env (SECONDS, CONCURRENCY) and prints the result as JSON. Other env: DYNAMODB_ENDPOINT,
 * CONTROL_TABLE, OPERATOR_ID, AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY.
 *
 * Query mode (bench/chat-messages.js): with FLOOR_QUERY_TABLE and FLOOR_CHAT_ID set, each call is instead the
 * API's first-page messages Query (`pk = CHAT#<id> AND sk >= 'CHAT'`, Limit FLOOR_QUERY_LIMIT, default 21) on
 * that table, and a call counts only when it returns that many items.
 */
const { Agent } = require('node:http');
const { DynamoDB, DynamoDBClient, QueryCommand: RawQueryCommand } = require('@aws-sdk/client-dynamodb');
const { marshall, unmarshall } = require('@aws-sdk/util-dynamodb');
const { DynamoDBDocumentClient, GetCommand, QueryCommand } = require('@aws-sdk/lib-dynamodb');
const { NodeHttpHandler } = require('@smithy/node-http-handler');

const doc = DynamoDBDocumentClient.from(
  new DynamoDB({
    region: 'us-east-1',
    endpoint: process.env.DYNAMODB_ENDPOINT,
    requestHandler: new NodeHttpHandler({
      httpAgent: new Agent({ keepAlive: true, keepAliveMsecs: 1000, maxSockets: 256 }),
      requestTimeout: 3000,
      throwOnRequestTimeout: true,
    }),
  }),
);
const input = {
  TableName: process.env.CONTROL_TABLE,
  Key: { pk: `OPERATOR#${process.env.OPERATOR_ID}`, sk: 'OPERATOR' },
  ConsistentRead: true,
};
const queryLimit = Number(process.env.FLOOR_QUERY_LIMIT || 21);
const queryInput = {
  TableName: process.env.FLOOR_QUERY_TABLE,
  KeyConditionExpression: 'pk = :pk AND sk >= :chat',
  ExpressionAttributeValues: { ':pk': `CHAT#${process.env.FLOOR_CHAT_ID}`, ':chat': 'CHAT' },
  Limit: queryLimit,
};
/**
 * FLOOR_CLIENT=cached: the Query the way the API's `DynamoClients.query` sends it: a base client with
 * `cacheMiddleware: true` (its resolved middleware stack is reused) and util-dynamodb's marshall/unmarshall
 * instead of the document client (which refuses cacheMiddleware).
 */
const cachedClient =
  process.env.FLOOR_CLIENT === 'cached'
    ? new DynamoDBClient({
        region: 'us-east-1',
        endpoint: process.env.DYNAMODB_ENDPOINT,
        cacheMiddleware: true,
        requestHandler: new NodeHttpHandler({
          httpAgent: new Agent({ keepAlive: true, keepAliveMsecs: 1000, maxSockets: 256 }),
          requestTimeout: 3000,
          throwOnRequestTimeout: true,
        }),
      })
    : undefined;
const queryCached = async () => {
  const raw = { ...queryInput, ExpressionAttributeValues: marshall(queryInput.ExpressionAttributeValues) };
  const { Items } = await cachedClient.send(new RawQueryCommand(raw));
  return Items && Items.map((item) => unmarshall(item));
};

/** One call of the floor; throws unless it found what the benchmarked route reads. */
const call = process.env.FLOOR_QUERY_TABLE
  ? async () => {
      const Items = cachedClient ? await queryCached() : (await doc.send(new QueryCommand(queryInput))).Items;
      if (!Items || Items.length !== queryLimit) throw new Error(`expected ${queryLimit} items`);
    }
  : async () => {
      const { Item } = await doc.send(new GetCommand(input));
      if (!Item) throw new Error('operator item not found');
    };

function percentile(sorted, p) {
  return sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))] : NaN;
}

async function run({ seconds, concurrency }) {
  const latencies = [];
  let errors = 0;
  const cpu = process.cpuUsage();
  const start = performance.now();
  const end = start + seconds * 1000;
  const worker = async () => {
    while (performance.now() < end) {
      const t0 = performance.now();
      try {
        await call();
        latencies.push(performance.now() - t0);
      } catch {
        errors++;
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  const elapsed = (performance.now() - start) / 1000;
  const { user, system } = process.cpuUsage(cpu);
  latencies.sort((a, b) => a - b);
  return {
    requests: latencies.length,
    seconds: elapsed,
    rps: latencies.length / elapsed,
    p50: percentile(latencies, 0.5),
    p99: percentile(latencies, 0.99),
    errors,
    cpuUs: (user + system) / Math.max(1, latencies.length),
  };
}

if (process.send) {
  process.on('message', (message) => {
    if (message && message.run) {
      run(message.run).then(
        (result) => process.send({ result }),
        (error) => process.send({ error: error.message }),
      );
    }
  });
  process.on('disconnect', () => process.exit(0)); // the parent is gone: never outlive it
  process.send({ ready: true });
} else {
  run({ seconds: Number(process.env.SECONDS || 6), concurrency: Number(process.env.CONCURRENCY || 32) }).then(
    (result) => console.log(JSON.stringify(result)),
    (error) => {
      console.error(error);
      process.exit(1);
    },
  );
}
