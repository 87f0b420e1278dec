import request from 'supertest';
import { ulid } from 'ulid';
import { startApp, type TestApp } from '../support/harness';
import { createTenantWithAdmin, createUser, rolesByName, type TenantSession } from '../support/tenants';
import { loginOperator } from '../support/tokens';

interface Message {
  id: string;
  content: string;
}

describe('chat access attacks', () => {
  let t: TestApp;
  let acme: TenantSession;
  let roles: Record<string, string>;
  let member: { id: string; accessToken: string };
  const api = () => request(t.url);

  beforeAll(async () => {
    t = await startApp({
      LOGIN_MAX_FAILURES_PER_IP: '10000',
      CHAT_MESSAGES_PER_MINUTE_PER_USER: '1000',
      CHAT_MESSAGES_PER_MINUTE_PER_TENANT: '10000',
    });
    const operator = (await loginOperator(t.url)).accessToken;
    acme = await createTenantWithAdmin(t.url, operator);
    roles = await rolesByName(t.url, acme.accessToken);
    member = await createUser(t.url, acme.accessToken, acme.slug, [roles.member]);
  });
  afterAll(() => t.close());

  /** A chat of the member's with 10 messages (5 exchanges with the echo provider). */
  async function privateChat(): Promise<{ id: string; messages: Message[] }> {
    const chat = (
      await api().post('/v1/chats').auth(member.accessToken, { type: 'bearer' }).send({ title: 'private' }).expect(201)
    ).body as { id: string };
    for (let i = 0; i < 5; i++) {
      await api()
        .post(`/v1/chats/${chat.id}/messages`)
        .auth(member.accessToken, { type: 'bearer' })
        .send({ content: `secret ${i}` })
        .expect(201);
    }
    const all = await api()
      .get(`/v1/chats/${chat.id}/messages?limit=100`)
      .auth(member.accessToken, { type: 'bearer' })
      .expect(200);
    expect(all.body.items).toHaveLength(10);
    return { id: chat.id, messages: all.body.items as Message[] };
  }

  it('a cursor does not outlive chats:read:any: after the role is taken away, page 2 → 404 and nothing leaks', async () => {
    const auditors = (
      await api()
        .post('/v1/roles')
        .auth(acme.accessToken, { type: 'bearer' })
        .send({ name: `auditors-${process.pid}`, permissions: ['chats:read', 'chats:read:any'] })
        .expect(201)
    ).body as { id: string };
    // The auditor keeps chats:read of their own (viewer) throughout; only chats:read:any is revoked.
    const auditor = await createUser(t.url, acme.accessToken, acme.slug, [roles.viewer, auditors.id]);
    const chat = await privateChat();
    const page = (cursor?: string) =>
      api()
        .get(`/v1/chats/${chat.id}/messages?limit=3${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`)
        .auth(auditor.accessToken, { type: 'bearer' });

    const first = await page().expect(200);
    expect(first.body.items.map((m: Message) => m.id)).toEqual(chat.messages.slice(0, 3).map((m) => m.id));
    const cursor = first.body.nextCursor as string;
    expect(cursor).toEqual(expect.any(String));
    // While the auditor holds the role, the cursor reads page 2.
    const second = await page(cursor).expect(200);
    expect(second.body.items.map((m: Message) => m.id)).toEqual(chat.messages.slice(3, 6).map((m) => m.id));

    await api()
      .patch(`/v1/users/${auditor.id}`)
      .auth(acme.accessToken, { type: 'bearer' })
      .send({ roleIds: [roles.viewer] })
      .expect(200);

    for (const c of [cursor, second.body.nextCursor as string]) {
      const res = await page(c);
      expect(res.status).toBe(404);
      expect(res.headers['content-type']).toContain('application/problem+json');
      expect(res.body.detail).toBe('chat not found');
      expect(res.body.items).toBeUndefined();
      for (const message of chat.messages) expect(res.text).not.toContain(message.content);
    }
    // Page 1 is refused too, and so is the chat itself.
    await page().expect(404);
    await api().get(`/v1/chats/${chat.id}`).auth(auditor.accessToken, { type: 'bearer' }).expect(404);
    // The owner still reads every page.
    const own = await api()
      .get(`/v1/chats/${chat.id}/messages?limit=3`)
      .auth(member.accessToken, { type: 'bearer' })
      .expect(200);
    expect(own.body.items).toHaveLength(3);
  });

  it('a cursor issued for another chat is refused (400)', async () => {
    const a = await privateChat();
    const b = await privateChat();
    const first = await api()
      .get(`/v1/chats/${a.id}/messages?limit=3`)
      .auth(member.accessToken, { type: 'bearer' })
      .expect(200);
    const res = await api()
      .get(`/v1/chats/${b.id}/messages?limit=3&cursor=${encodeURIComponent(first.body.nextCursor)}`)
      .auth(member.accessToken, { type: 'bearer' });
    expect(res.status).toBe(400);
    expect(res.body.errors).toEqual([{ field: 'cursor', message: 'invalid cursor' }]);
  });

  it('an idempotent replay of POST /v1/chats whose chat was deleted since → 404 saying so; otherwise the same bytes', async () => {
    const key = `c-${ulid()}`;
    const create = () =>
      api()
        .post('/v1/chats')
        .set('idempotency-key', key)
        .auth(member.accessToken, { type: 'bearer' })
        .send({ title: 'replayed' });
    const first = await create().expect(201);
    const replay = await create().expect(201);
    expect(replay.text).toBe(first.text);
    expect(replay.headers.etag).toBe(first.headers.etag);
    expect(replay.headers.location).toBe(`/v1/chats/${first.body.id}`);

    await api().delete(`/v1/chats/${first.body.id}`).auth(member.accessToken, { type: 'bearer' }).expect(204);
    const gone = await create();
    expect(gone.status).toBe(404);
    expect(gone.headers['content-type']).toContain('application/problem+json');
    expect(gone.body.detail).toBe('the chat created by this request has since been deleted');
    expect(gone.text).not.toContain(first.body.id);
    // Nothing was created by the replay.
    const list = await api().get('/v1/chats?limit=100').auth(member.accessToken, { type: 'bearer' }).expect(200);
    expect(list.body.items.filter((c: { title: string }) => c.title === 'replayed')).toEqual([]);
  });
});
