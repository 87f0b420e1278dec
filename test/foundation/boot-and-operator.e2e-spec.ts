import { DescribeTableCommand, DescribeTimeToLiveCommand, GetItemCommand } from '@aws-sdk/client-dynamodb';
import request from 'supertest';
import { OPERATOR_EMAIL, OPERATOR_PASSWORD, startApp, type TestApp } from '../support/harness';
import { decodeToken, loginOperator } from '../support/tokens';
import { DynamoClients } from '@lib/dynamo';

describe('boot on an empty DynamoDB, and the bootstrap operator', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startApp();
  });
  afterAll(() => t.close());

  it('creates the control table (keys, gsi1, TTL on expiresAt, stream, on-demand)', async () => {
    const { ddb } = t.app.get(DynamoClients);
    const name = `${t.config.dynamo.tablePrefix}platform`;
    const { Table } = await ddb.send(new DescribeTableCommand({ TableName: name }));
    expect(Table?.TableStatus).toBe('ACTIVE');
    expect(Table?.KeySchema).toEqual([
      { AttributeName: 'pk', KeyType: 'HASH' },
      { AttributeName: 'sk', KeyType: 'RANGE' },
    ]);
    expect(Table?.GlobalSecondaryIndexes?.map((i) => i.IndexName)).toEqual(['gsi1']);
    expect(Table?.BillingModeSummary?.BillingMode).toBe('PAY_PER_REQUEST');
    expect(Table?.StreamSpecification).toEqual({ StreamEnabled: true, StreamViewType: 'NEW_AND_OLD_IMAGES' });
    const ttl = await ddb.send(new DescribeTimeToLiveCommand({ TableName: name }));
    expect(ttl.TimeToLiveDescription).toMatchObject({ TimeToLiveStatus: 'ENABLED', AttributeName: 'expiresAt' });
  });

  it('creates the bootstrap operator with an argon2id hash, once', async () => {
    const { ddb } = t.app.get(DynamoClients);
    const marker = await ddb.send(
      new GetItemCommand({
        TableName: `${t.config.dynamo.tablePrefix}platform`,
        Key: { pk: { S: `OPEMAIL#${OPERATOR_EMAIL}` }, sk: { S: 'OPEMAIL' } },
      }),
    );
    const id = marker.Item?.ownerId?.S as string;
    expect(id).toMatch(/^[0-9A-Z]{26}$/);
    const operator = await ddb.send(
      new GetItemCommand({
        TableName: `${t.config.dynamo.tablePrefix}platform`,
        Key: { pk: { S: `OPERATOR#${id}` }, sk: { S: 'OPERATOR' } },
      }),
    );
    expect(operator.Item?.passwordHash?.S).toMatch(/^\$argon2id\$v=19\$m=19456,t=2,p=1\$/);
    expect(operator.Item?.passwordHash?.S).not.toContain(OPERATOR_PASSWORD);
  });

  it('a second boot on the same tables keeps the same operator and works', async () => {
    const second = await startApp({ TABLE_PREFIX: t.config.dynamo.tablePrefix });
    try {
      const before = await request(t.url)
        .get('/v1/platform/me')
        .auth((await loginOperator(t.url)).accessToken, { type: 'bearer' });
      const after = await request(second.url)
        .get('/v1/platform/me')
        .auth((await loginOperator(second.url)).accessToken, { type: 'bearer' });
      expect(after.body.id).toBe(before.body.id);
    } finally {
      await second.close();
    }
  });

  it('logs in and returns tokens of the documented shape', async () => {
    const res = await request(t.url)
      .post('/v1/platform/auth/login')
      .send({ email: OPERATOR_EMAIL.toUpperCase(), password: OPERATOR_PASSWORD })
      .expect(200);
    expect(res.body).toEqual({
      accessToken: expect.any(String),
      refreshToken: expect.any(String),
      tokenType: 'Bearer',
      expiresIn: 900,
    });
    const { header, payload } = decodeToken(res.body.accessToken);
    expect(header).toMatchObject({ alg: 'HS256', typ: 'at+jwt', kid: expect.any(String) });
    expect(payload).toMatchObject({
      iss: 'chat-platform',
      aud: 'chat-platform',
      scope: 'platform',
      sub: expect.any(String),
      sid: expect.any(String),
      jti: expect.any(String),
    });
    expect(payload.tid).toBeUndefined();
    expect((payload.exp as number) - (payload.iat as number)).toBe(900);
  });

  it('GET /v1/platform/me returns the operator', async () => {
    const { accessToken } = await loginOperator(t.url);
    const res = await request(t.url).get('/v1/platform/me').set('authorization', `Bearer ${accessToken}`).expect(200);
    expect(res.body).toEqual({
      id: expect.stringMatching(/^[0-9A-Z]{26}$/),
      email: OPERATOR_EMAIL,
      name: 'Bootstrap operator',
    });
  });

  it('wrong password and unknown email give the same 401 body', async () => {
    const wrong = await request(t.url)
      .post('/v1/platform/auth/login')
      .send({ email: OPERATOR_EMAIL, password: 'not the password!' })
      .expect(401);
    const unknown = await request(t.url)
      .post('/v1/platform/auth/login')
      .send({ email: 'nobody@operators.test', password: 'not the password!' })
      .expect(401);
    const strip = (b: Record<string, unknown>) => ({ ...b, requestId: undefined });
    expect(strip(wrong.body)).toEqual(strip(unknown.body));
    expect(wrong.headers['content-type']).toContain('application/problem+json');
    expect(wrong.body).toMatchObject({ status: 401, title: 'Unauthorized', instance: '/v1/platform/auth/login' });
  });

  it('refresh rotates the token; reusing a rotated one revokes the session', async () => {
    const first = await loginOperator(t.url);
    const second = (
      await request(t.url).post('/v1/platform/auth/refresh').send({ refreshToken: first.refreshToken }).expect(200)
    ).body;
    expect(second.refreshToken).not.toBe(first.refreshToken);
    await request(t.url).get('/v1/platform/me').auth(second.accessToken, { type: 'bearer' }).expect(200);
    const third = (
      await request(t.url).post('/v1/platform/auth/refresh').send({ refreshToken: second.refreshToken }).expect(200)
    ).body;
    // The first token again (not the one just rotated out, which REFRESH_REUSE_GRACE covers): reuse → 401, and
    // the session is revoked, so the newest token dies too.
    await request(t.url).post('/v1/platform/auth/refresh').send({ refreshToken: first.refreshToken }).expect(401);
    await request(t.url).post('/v1/platform/auth/refresh').send({ refreshToken: third.refreshToken }).expect(401);
  });

  it('concurrent refreshes with the same token: one rotation, every caller gets its successor', async () => {
    const pair = await loginOperator(t.url);
    const results = await Promise.all(
      [0, 1, 2, 3].map(() =>
        request(t.url).post('/v1/platform/auth/refresh').send({ refreshToken: pair.refreshToken }),
      ),
    );
    expect(results.filter((r) => r.status === 200)).toHaveLength(4);
    expect(new Set(results.map((r) => r.body.refreshToken)).size).toBe(1);
  });

  it('refuses malformed and unknown refresh tokens with 401', async () => {
    await request(t.url).post('/v1/platform/auth/refresh').send({ refreshToken: 'garbage' }).expect(401);
    const pair = await loginOperator(t.url);
    const forged = pair.refreshToken.replace(/\.[^.]+$/, `.${'A'.repeat(43)}`);
    await request(t.url).post('/v1/platform/auth/refresh').send({ refreshToken: forged }).expect(401);
    // A wrong secret for a real session does not revoke it: the real token still works.
    await request(t.url).post('/v1/platform/auth/refresh').send({ refreshToken: pair.refreshToken }).expect(200);
  });
});
