import { BatchWriteCommand } from '@aws-sdk/lib-dynamodb';
import { createDynamoClients, type DynamoClients } from '@lib/dynamo';
import { randomBytes } from 'node:crypto';

/**
 * The `reads` client caches its resolved middleware stack per command type, so concurrent calls share one
 * handler (and its execution context). Prove that concurrent queries with different inputs still each get
 * their own answer, with document-client values in and out.
 */
describe('DynamoClients.query on the cached-stack client', () => {
  let clients: DynamoClients;
  const table = `e2e${randomBytes(4).toString('hex')}-reads`;

  beforeAll(async () => {
    clients = createDynamoClients({
      endpoint: process.env.DYNAMODB_ENDPOINT,
      embedded: false,
      region: 'us-east-1',
      tablePrefix: 'e2e',
      timeoutMs: 3000,
      connectTimeoutMs: 1000,
      maxAttempts: 2,
      faults: [],
    });
    await clients.ddb.createTable({
      TableName: table,
      BillingMode: 'PAY_PER_REQUEST',
      AttributeDefinitions: [
        { AttributeName: 'pk', AttributeType: 'S' },
        { AttributeName: 'sk', AttributeType: 'S' },
      ],
      KeySchema: [
        { AttributeName: 'pk', KeyType: 'HASH' },
        { AttributeName: 'sk', KeyType: 'RANGE' },
      ],
    });
    const items = [];
    for (let p = 0; p < 20; p++) {
      for (let i = 0; i < 5; i++) {
        items.push({
          pk: `P#${p}`,
          sk: `S#${i}`,
          n: p * 100 + i,
          tags: ['a', `p${p}`],
          nested: { p, i, none: undefined },
        });
      }
    }
    for (let i = 0; i < items.length; i += 25) {
      const batch = items.slice(i, i + 25).map((Item) => ({ PutRequest: { Item } }));
      await clients.doc.send(new BatchWriteCommand({ RequestItems: { [table]: batch } }));
    }
  });
  afterAll(async () => {
    await clients.ddb.deleteTable({ TableName: table }).catch(() => undefined);
    clients.destroy();
  });

  it('answers waves of 50 concurrent queries over 20 partitions, each with its own items', async () => {
    const results = [];
    for (let wave = 0; wave < 8; wave++) {
      results.push(
        ...(await Promise.all(
          Array.from({ length: 50 }, async (_, j) => {
            const k = wave * 50 + j;
            const p = k % 20;
            const from = k % 5;
            const page = await clients.query({
              TableName: table,
              KeyConditionExpression: 'pk = :pk AND sk >= :from',
              ExpressionAttributeValues: { ':pk': `P#${p}`, ':from': `S#${from}` },
            });
            return { p, from, page };
          }),
        )),
      );
    }
    expect(results).toHaveLength(400);
    for (const { p, from, page } of results) {
      expect(page.items.map((item) => item.n)).toEqual(Array.from({ length: 5 - from }, (_, i) => p * 100 + from + i));
      expect(page.items[0]).toEqual({
        pk: `P#${p}`,
        sk: `S#${from}`,
        n: p * 100 + from,
        tags: ['a', `p${p}`],
        nested: { p, i: from },
      });
      expect(page.lastKey).toBeUndefined();
    }
  });

  it('pages with Limit and ExclusiveStartKey like the document client', async () => {
    const first = await clients.query({
      TableName: table,
      KeyConditionExpression: 'pk = :pk',
      ExpressionAttributeValues: { ':pk': 'P#7' },
      Limit: 3,
    });
    expect(first.items.map((i) => i.sk)).toEqual(['S#0', 'S#1', 'S#2']);
    expect(first.lastKey).toEqual({ pk: 'P#7', sk: 'S#2' });
    const second = await clients.query({
      TableName: table,
      KeyConditionExpression: 'pk = :pk',
      ExpressionAttributeValues: { ':pk': 'P#7' },
      ExclusiveStartKey: first.lastKey,
      Limit: 3,
    });
    expect(second.items.map((i) => i.sk)).toEqual(['S#3', 'S#4']);
  });
});
