'use strict';
/**
 * The hand-rolled peer of `GET /v1/chats/{chatId}/messages?limit=20` (first page): bare Fastify, the same auth
 * check as bench/peer-server.js (HS256 JWT verified with a KeyObject; pinned algorithm, issuer, audience; typ
 * `at+jwt`; exp required; here also scope `tenant` and a `tid`), then the API's one Query on the tenant table
 * `<prefix>t-<tid>`: `pk = CHAT#<id> AND sk >= 'CHAT'`, Limit limit+1 (the chat item sorts first: ownership
 * check, then the messages). It answers the API's body: `{ items: Message[], nextCursor }`, with the same
 * signed cursor (HMAC-SHA256 keyed as the API derives it from JWT_SECRET), so that the bench can check that both
 * answer alike. No Nest, no class-validator, no request context, no caches, no logging, no metrics.
 * Started by bench/chat-messages.js; env: PORT, HOST, DYNAMODB_ENDPOINT, JWT_SECRET, TABLE_PREFIX,
 * AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY.
 */
const { createHmac, createSecretKey } = require('node:crypto');
const { Agent } = require('node:http');
const fastify = require('fastify');
const jwt = require('jsonwebtoken');
const { DynamoDB } = require('@aws-sdk/client-dynamodb');
const { DynamoDBDocumentClient, QueryCommand } = require('@aws-sdk/lib-dynamodb');
const { NodeHttpHandler } = require('@smithy/node-http-handler');

const secret = process.env.JWT_SECRET;
const key = createSecretKey(Buffer.from(secret, 'utf8'));
const cursorKey = createSecretKey(
  Buffer.from(createHmac('sha256', secret).update('cursor').digest('base64url'), 'utf8'),
);
const verifyOptions = { algorithms: ['HS256'], issuer: 'chat-platform', audience: 'chat-platform', complete: true };
const prefix = process.env.TABLE_PREFIX || '';
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

/** The API's cursor: the key to start after, the time it was issued (s), and the chat's owner (a signed claim). */
function cursor(sk, binding, owner) {
  const body = { k: { sk }, t: Math.floor(Date.now() / 1000), c: { owner } };
  const payload = Buffer.from(JSON.stringify(body), 'utf8').toString('base64url');
  const mac = createHmac('sha256', cursorKey)
    .update(JSON.stringify([binding.tenant, binding.list, binding.caller]))
    .update('\n')
    .update(payload)
    .digest('base64url');
  return `${payload}.${mac}`;
}

const toMessage = (m) => ({
  id: m.id,
  chatId: m.chatId,
  role: m.role,
  content: m.content,
  status: m.status,
  ...(m.model ? { model: m.model } : {}),
  ...(m.usage ? { usage: { inputTokens: m.usage.inputTokens, outputTokens: m.usage.outputTokens } } : {}),
  createdAt: m.createdAt,
});

const app = fastify({ logger: false });
app.get('/v1/chats/:chatId/messages', async (request, reply) => {
  const match = /^Bearer (.+)$/.exec(request.headers.authorization || '');
  let token;
  try {
    token = match && jwt.verify(match[1], key, verifyOptions);
  } catch {
    token = undefined;
  }
  const claims = token?.payload;
  if (!token || token.header.typ !== 'at+jwt' || typeof claims.exp !== 'number' || claims.scope !== 'tenant') {
    return reply.code(401).send({ title: 'unauthenticated' });
  }
  const limit = request.query.limit === undefined ? 20 : Number(request.query.limit);
  if (!Number.isInteger(limit) || limit < 1 || limit > 100) return reply.code(400).send({ title: 'invalid limit' });
  const { chatId } = request.params;
  const page = await doc.send(
    new QueryCommand({
      TableName: `${prefix}t-${claims.tid}`,
      KeyConditionExpression: 'pk = :pk AND sk >= :chat',
      ExpressionAttributeValues: { ':pk': `CHAT#${chatId}`, ':chat': 'CHAT' },
      Limit: limit + 1,
    }),
  );
  const items = page.Items || [];
  const chat = items[0]?.sk === 'CHAT' ? items.shift() : undefined;
  if (!chat || chat.ownerId !== claims.sub) return reply.code(404).send({ title: 'chat not found' });
  const last = items.at(-1);
  const binding = { tenant: claims.tid, list: `messages:${chatId}`, caller: claims.sub };
  return {
    items: items.map(toMessage),
    nextCursor: page.LastEvaluatedKey && last ? cursor(last.sk, binding, chat.ownerId) : null,
  };
});

app.listen({ port: Number(process.env.PORT), host: process.env.HOST || '127.0.0.1' }).then(
  () => process.stdout.write('peer listening\n'),
  (error) => {
    process.stderr.write(`peer failed: ${error.message}\n`);
    process.exit(1);
  },
);
for (const signal of ['SIGTERM', 'SIGINT']) process.once(signal, () => app.close().then(() => process.exit(0)));
