import { QueryCommand } from '@aws-sdk/lib-dynamodb';
import { DynamoClients } from '@lib/dynamo';
import request from 'supertest';
import { startApp, type TestApp } from '../support/harness';
import { createTenantWithAdmin, createUser, rolesByName, type TenantSession } from '../support/tenants';
import { loginOperator } from '../support/tokens';

/** More than one page of the owner's chat list (pages of 100), so that every page is deleted, not the first. */
const CHATS = 130;

describe("deleting a user deletes the user's chats, every message with them, and nobody else's", () => {
  let t: TestApp;
  let acme: TenantSession;
  let roles: Record<string, string>;
  const api = () => request(t.url);
  const doc = () => t.app.get(DynamoClients).doc;

  /** Every item of one partition of the tenant's table, read directly. */
  const partition = async (pk: string) =>
    (
      await doc().send(
        new QueryCommand({
          TableName: acme.tableName,
          KeyConditionExpression: 'pk = :pk',
          ExpressionAttributeValues: { ':pk': pk },
        }),
      )
    ).Items ?? [];

  /** The owner's entries in gsi1 (`USER#<id>#CHATS`), read directly. */
  const indexed = async (ownerId: string) =>
    (
      await doc().send(
        new QueryCommand({
          TableName: acme.tableName,
          IndexName: 'gsi1',
          KeyConditionExpression: 'gsi1pk = :p',
          ExpressionAttributeValues: { ':p': `USER#${ownerId}#CHATS` },
        }),
      )
    ).Items ?? [];

  const newChat = async (token: string, title: string) =>
    (await api().post('/v1/chats').auth(token, { type: 'bearer' }).send({ title }).expect(201)).body as {
      id: string;
    };
  const say = (token: string, chatId: string, content: string) =>
    api().post(`/v1/chats/${chatId}/messages`).auth(token, { type: 'bearer' }).send({ content }).expect(201);

  beforeAll(async () => {
    t = await startApp({ CHAT_MESSAGES_PER_MINUTE_PER_USER: '1000', CHAT_MESSAGES_PER_MINUTE_PER_TENANT: '10000' });
    const operator = (await loginOperator(t.url)).accessToken;
    acme = await createTenantWithAdmin(t.url, operator);
    roles = await rolesByName(t.url, acme.accessToken);
  });
  afterAll(() => t.close());

  it(`${CHATS} chats with messages → all gone after DELETE /v1/users/{id}; another user's chat untouched`, async () => {
    const leaving = await createUser(t.url, acme.accessToken, acme.slug, [roles.member]);
    const staying = await createUser(t.url, acme.accessToken, acme.slug, [roles.member]);
    const theirs: string[] = [];
    for (let i = 0; i < CHATS; i += 10) {
      const batch = await Promise.all(
        Array.from({ length: Math.min(10, CHATS - i) }, (_, j) => newChat(leaving.accessToken, `chat ${i + j}`)),
      );
      theirs.push(...batch.map((c) => c.id));
    }
    // Messages in the first, a middle and the last chat: each chat's partition holds them.
    for (const chatId of [theirs[0], theirs[CHATS / 2], theirs[CHATS - 1]])
      await say(leaving.accessToken, chatId, 'hello');
    const kept = await newChat(staying.accessToken, 'not theirs');
    await say(staying.accessToken, kept.id, 'mine');
    expect(await indexed(leaving.id)).toHaveLength(CHATS);
    expect(await partition(`CHAT#${theirs[0]}`)).toHaveLength(3); // chat, user message, reply

    await api().delete(`/v1/users/${leaving.id}`).auth(acme.accessToken, { type: 'bearer' }).expect(204);

    // What the tenant's admin sees (owners hold chats:read:any): none of the chats is there any more.
    for (const chatId of [theirs[0], theirs[CHATS / 2], theirs[CHATS - 1]])
      await api().get(`/v1/chats/${chatId}`).auth(acme.accessToken, { type: 'bearer' }).expect(404);
    // What is stored: no chat item, no message, no list entry left, on any page.
    expect(await indexed(leaving.id)).toEqual([]);
    const left: unknown[] = [];
    for (const chatId of theirs) left.push(...(await partition(`CHAT#${chatId}`)));
    expect(left).toEqual([]);
    // The other user's chat and its messages are still there.
    const other = await api().get(`/v1/chats/${kept.id}`).auth(staying.accessToken, { type: 'bearer' }).expect(200);
    expect(other.body).toMatchObject({ id: kept.id, messageCount: 2 });
    expect(await partition(`CHAT#${kept.id}`)).toHaveLength(3);
    expect(await indexed(staying.id)).toHaveLength(1);
  });
});
