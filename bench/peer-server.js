'use strict';
/**
 * The hand-rolled peer of `GET /v1/platform/me`: bare Fastify, the same auth check (HS256 JWT verified with a
 * KeyObject; pinned algorithm, issuer, audience; typ `at+jwt`; exp required) and the same GetItem
 * (ConsistentRead, as the API's dynamoose `get(..., { consistent: true })`) through one keep-alive
 * DynamoDBDocumentClient. Started by bench/platform-me.js; env: PORT, HOST, DYNAMODB_ENDPOINT, JWT_SECRET,
 * CONTROL_TABLE, AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY.
 */
const { createSecretKey } = require('node:crypto');
const { Agent } = require('node:http');
const fastify = require('fastify');
const jwt = require('jsonwebtoken');
const { DynamoDB } = require('@aws-sdk/client-dynamodb');
const { DynamoDBDocumentClient, GetCommand } = require('@aws-sdk/lib-dynamodb');
const { NodeHttpHandler } = require('@smithy/node-http-handler');

const key = createSecretKey(Buffer.from(process.env.JWT_SECRET, 'utf8'));
const verifyOptions = { algorithms: ['HS256'], issuer: 'chat-platform', audience: 'chat-platform', complete: true };
const doc = DynamoDBDocumentClient.from(
  new DynamoDB({
    region: 'us-east-1',
    endpoint: process.env.DYNAMODB_ENDPOINT,
    requestHandler: new NodeHttpHandler({
      httpAgent: new Agent({ keepAlive: true, maxSockets: 256 }),
      requestTimeout: 3000,
      throwOnRequestTimeout: true,
    }),
  }),
);

const operators = new Map();
const app = fastify({ logger: false });
app.get('/v1/platform/me', async (request, reply) => {
  const match = /^Bearer (.+)$/.exec(request.headers.authorization || '');
  let token;
  try {
    token = match && jwt.verify(match[1], key, verifyOptions);
  } catch {
    token = undefined;
  }
  if (!token || token.header.typ !== 'at+jwt' || typeof token.payload.exp !== 'number') {
    return reply.code(401).send({ title: 'unauthenticated' });
  }
  // As the API does: the operator record is read once and then served from memory (the API keeps it until its
  // change feed names the operator; this peer keeps it for the run).
  let Item = operators.get(token.payload.sub);
  if (!Item) {
    ({ Item } = await doc.send(
      new GetCommand({
        TableName: process.env.CONTROL_TABLE,
        Key: { pk: `OPERATOR#${token.payload.sub}`, sk: 'OPERATOR' },
        ConsistentRead: true,
      }),
    ));
    if (Item) operators.set(token.payload.sub, Item);
  }
  if (!Item || Item.disabled) return reply.code(401).send({ title: 'unauthenticated' });
  return { id: Item.id, email: Item.email, name: Item.name };
});

app.listen({ port: Number(process.env.PORT), host: process.env.HOST || '127.0.0.1' }).then(
  () => process.stdout.write('peer listening\n'),
  (error) => {
    process.stderr.write(`peer failed: ${error.message}\n`);
    process.exit(1);
  },
);
for (const signal of ['SIGTERM', 'SIGINT']) process.once(signal, () => app.close().then(() => process.exit(0)));
