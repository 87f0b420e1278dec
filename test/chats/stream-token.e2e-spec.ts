/**
 * Stream tokens (docs/streaming.md): a browser's EventSource, which cannot set `Authorization`, follows a reply with
 * `GET …/events?token=<stream token>`. The token is issued to whoever may read the message, names that one reply,
 * lives 60 seconds, and is worth nothing anywhere else; an access token is worth nothing in the query string.
 */
import { EventSource } from 'eventsource';
import request from 'supertest';
import { JWT_SECRET, startApp, type TestApp, uniquePrefix } from '../support/harness';
import { waitFor } from '../support/processes';
import { createTenantWithAdmin, createUser, rolesByName, type TenantSession } from '../support/tenants';
import { decodeToken, forgeToken, loginOperator } from '../support/tokens';

interface Message {
  id: string;
  role: string;
  content: string;
  status: string;
}

describe('stream tokens for a browser EventSource', () => {
  let t: TestApp;
  let acme: TenantSession;
  let member: { id: string; accessToken: string };
  let other: { id: string; accessToken: string };
  let stranger: TenantSession;

  beforeAll(async () => {
    t = await startApp({
      TABLE_PREFIX: uniquePrefix(),
      LLM_ECHO_DELAY_MS: '10',
      GENERATION_FLUSH_MS: '50',
      STREAM_POLL_MS: '50',
    });
    const operator = (await loginOperator(t.url)).accessToken;
    acme = await createTenantWithAdmin(t.url, operator);
    const roles = await rolesByName(t.url, acme.accessToken);
    member = await createUser(t.url, acme.accessToken, acme.slug, [roles.member]);
    other = await createUser(t.url, acme.accessToken, acme.slug, [roles.member]);
    stranger = await createTenantWithAdmin(t.url, operator);
  }, 60_000);
  afterAll(() => t?.close());

  const api = () => request(t.url);
  const newChat = async (token = member.accessToken) =>
    (await api().post('/v1/chats').auth(token, { type: 'bearer' }).send({}).expect(201)).body.id as string;
  /** A finished exchange: the chat and its reply's id. */
  const exchange = async (token = member.accessToken) => {
    const chatId = await newChat(token);
    const res = await api()
      .post(`/v1/chats/${chatId}/messages`)
      .auth(token, { type: 'bearer' })
      .send({ content: 'hi' })
      .expect(201);
    return { chatId, messageId: (res.body.assistantMessage as Message).id };
  };
  const issue = (chatId: string, messageId: string, token = member.accessToken) =>
    api().post(`/v1/chats/${chatId}/messages/${messageId}/stream-token`).auth(token, { type: 'bearer' });
  const streamTokenFor = async (chatId: string, messageId: string) =>
    (await issue(chatId, messageId).expect(201)).body.token as string;
  /** The events route with `?token=`, asking only for what follows the terminal event: 204 when accepted. */
  const eventsWith = (chatId: string, messageId: string, token: string) =>
    api().get(`/v1/chats/${chatId}/messages/${messageId}/events`).query({ token, after: 'end' });
  /** What a refused token gets (a garbage token), to compare every refusal with. */
  const badTokenAnswer = async (chatId: string, messageId: string) => {
    const res = await eventsWith(chatId, messageId, 'not-a-token').expect(401);
    return { status: res.body.status, title: res.body.title, detail: res.body.detail, type: res.body.type };
  };
  const answerOf = (res: request.Response) => ({
    status: res.body.status,
    title: res.body.title,
    detail: res.body.detail,
    type: res.body.type,
  });

  it('a native EventSource with no headers follows a live reply to message.completed, then stops at 204', async () => {
    const chatId = await newChat();
    const content = Array.from({ length: 30 }, (_, i) => `w${i}`).join(' ');
    // The POST streams too; its first event names the reply, which is still generating.
    const posting = await fetch(`${t.url}/v1/chats/${chatId}/messages`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${member.accessToken}`,
        accept: 'text/event-stream',
        'content-type': 'application/json',
      },
      body: JSON.stringify({ content }),
    });
    const reader = posting.body!.getReader();
    let posted = '';
    while (!/event: message\.started\n/.test(posted)) {
      const { value, done } = await reader.read();
      if (done) break;
      posted += new TextDecoder().decode(value);
    }
    const started = /event: message\.started\n(?:id: [^\n]*\n)?data: ([^\n]*)\n/.exec(posted);
    const messageId = (JSON.parse(started![1]) as Message).id;

    const issued = await issue(chatId, messageId).expect(201);
    const { token, expiresAt } = issued.body as { token: string; expiresAt: string };
    const { header, payload } = decodeToken(token);
    expect(header.typ).toBe('stream+jwt');
    expect(payload).toMatchObject({
      sub: member.id,
      tid: acme.tenantId,
      scope: 'tenant',
      msg: `${chatId}/${messageId}`,
    });
    expect((payload.exp as number) - (payload.iat as number)).toBe(60);
    expect(Date.parse(expiresAt)).toBe((payload.exp as number) * 1000);

    const received: Array<{ type: string; id: string; data: string }> = [];
    const statuses: number[] = [];
    const source = new EventSource(`${t.url}/v1/chats/${chatId}/messages/${messageId}/events?token=${token}`, {
      // Records what the server answered; sends exactly what a browser would (no Authorization).
      fetch: async (input, init) => {
        expect(new Headers(init?.headers).has('authorization')).toBe(false);
        const res = await fetch(input, init);
        statuses.push(res.status);
        return res;
      },
    });
    for (const type of ['message.started', 'delta', 'message.completed'])
      source.addEventListener(type, (e) => received.push({ type, id: e.lastEventId, data: e.data }));
    await waitFor(async () => statuses.length >= 2 && source.readyState === EventSource.CLOSED, 15_000, 50);
    source.close();
    await reader.cancel();

    expect(statuses).toEqual([200, 204]);
    expect(received[0].type).toBe('message.started');
    expect(received.at(-1)).toMatchObject({ type: 'message.completed', id: 'end' });
    const stored = (
      await api().get(`/v1/chats/${chatId}/messages/${messageId}`).auth(member.accessToken, { type: 'bearer' })
    ).body as Message;
    expect(stored.status).toBe('complete');
    const text = received
      .filter((e) => e.type === 'delta')
      .map((e) => (JSON.parse(e.data) as { text: string }).text)
      .join('');
    expect(text).toBe(stored.content);
  });

  it('a stream token is accepted only on the reply it names', async () => {
    const a = await exchange();
    const b = await exchange();
    const tokenA = await streamTokenFor(a.chatId, a.messageId);
    await eventsWith(a.chatId, a.messageId, tokenA).expect(204);
    const refused = badTokenAnswer(b.chatId, b.messageId);
    // Another chat's reply, and A's message id under B's chat.
    expect(answerOf(await eventsWith(b.chatId, b.messageId, tokenA).expect(401))).toEqual(await refused);
    expect(answerOf(await eventsWith(b.chatId, a.messageId, tokenA).expect(401))).toEqual(await refused);
  });

  it("another user's or another tenant's message gets no token (404), nor does a user message", async () => {
    const a = await exchange();
    await issue(a.chatId, a.messageId, other.accessToken).expect(404);
    await issue(a.chatId, a.messageId, stranger.accessToken).expect(404);
    // The tenant's owner reads any chat (chats:read:any), so it may follow the reply too.
    const owners = await issue(a.chatId, a.messageId, acme.accessToken).expect(201);
    await eventsWith(a.chatId, a.messageId, owners.body.token as string).expect(204);
    const messages = await api()
      .get(`/v1/chats/${a.chatId}/messages`)
      .auth(member.accessToken, { type: 'bearer' })
      .expect(200);
    const userMessage = (messages.body.items as Message[]).find((m) => m.role === 'user')!;
    await issue(a.chatId, userMessage.id).expect(404);
  });

  it('an expired stream token is refused (and a re-signed live one is accepted: the forger matches)', async () => {
    const a = await exchange();
    const { header, payload } = decodeToken(await streamTokenFor(a.chatId, a.messageId));
    const now = Math.floor(Date.now() / 1000);
    await eventsWith(a.chatId, a.messageId, forgeToken(header, payload, { hmacKey: JWT_SECRET })).expect(204);
    const expired = forgeToken(header, { ...payload, iat: now - 120, exp: now - 60 }, { hmacKey: JWT_SECRET });
    const res = await eventsWith(a.chatId, a.messageId, expired).expect(401);
    expect(answerOf(res)).toEqual(await badTokenAnswer(a.chatId, a.messageId));
  });

  it('a stream token is not an access token, and an access token is not a stream token', async () => {
    const a = await exchange();
    const streamToken = await streamTokenFor(a.chatId, a.messageId);
    // As a bearer token: on the message itself, on its events, and to get another stream token.
    await api().get(`/v1/chats/${a.chatId}/messages/${a.messageId}`).auth(streamToken, { type: 'bearer' }).expect(401);
    await api()
      .get(`/v1/chats/${a.chatId}/messages/${a.messageId}/events`)
      .query({ after: 'end' })
      .auth(streamToken, { type: 'bearer' })
      .expect(401);
    await issue(a.chatId, a.messageId, streamToken).expect(401);
    // In the query string of any other route, even one about the same message.
    await api().get(`/v1/chats/${a.chatId}/messages/${a.messageId}`).query({ token: streamToken }).expect(401);
    await api()
      .post(`/v1/chats/${a.chatId}/messages/${a.messageId}/stream-token`)
      .query({ token: streamToken })
      .expect(401);
    // An access token in ?token= of the events route.
    const res = await eventsWith(a.chatId, a.messageId, member.accessToken).expect(401);
    expect(answerOf(res)).toEqual(await badTokenAnswer(a.chatId, a.messageId));
  });

  it("a disabled user's stream token stops working", async () => {
    const roles = await rolesByName(t.url, acme.accessToken);
    const leaver = await createUser(t.url, acme.accessToken, acme.slug, [roles.member]);
    const a = await exchange(leaver.accessToken);
    const token = (await issue(a.chatId, a.messageId, leaver.accessToken).expect(201)).body.token as string;
    await eventsWith(a.chatId, a.messageId, token).expect(204);
    await api()
      .patch(`/v1/users/${leaver.id}`)
      .auth(acme.accessToken, { type: 'bearer' })
      .send({ disabled: true })
      .expect(200);
    await eventsWith(a.chatId, a.messageId, token).expect(401);
  });
});
