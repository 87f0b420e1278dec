import { createSecretKey, randomBytes } from 'node:crypto';
import type { AppConfig } from '@lib/config';
import jwt from 'jsonwebtoken';
import { InvalidTokenError, TokenService } from './token.service';

const SUB = '01JBCDEFGHJKMNPQRSTVWXYZ00';
const SID = '01JBCDEFGHJKMNPQRSTVWXYZ01';
const TID = '01JBCDEFGHJKMNPQRSTVWXYZ02';

function service(secret = randomBytes(32), accessTtlSeconds = 60): TokenService {
  const key = createSecretKey(secret);
  const config = {
    jwt: {
      algorithm: 'HS256',
      signingKey: key,
      verifyKey: key,
      kid: 'k1',
      issuer: 'chat-platform',
      audience: 'chat-platform',
      accessTtlSeconds,
      refreshTtlSeconds: 3600,
    },
  } as unknown as AppConfig;
  return new TokenService(config);
}

describe('TokenService verification cache', () => {
  afterEach(() => jest.useRealTimers());

  it('verifies a token once and serves the same claims after', () => {
    const tokens = service();
    const token = tokens.issueAccessToken({ sub: SUB, scope: 'tenant', sid: SID, tid: TID });
    const first = tokens.verifyAccessToken(token);
    expect(first).toMatchObject({ sub: SUB, scope: 'tenant', sid: SID, tid: TID });
    expect(tokens.verifyAccessToken(token)).toBe(first);
    expect(Object.isFrozen(first)).toBe(true);
  });

  it('still refuses a token that differs from a cached one in its signature or payload', () => {
    const tokens = service();
    const token = tokens.issueAccessToken({ sub: SUB, scope: 'tenant', sid: SID, tid: TID });
    tokens.verifyAccessToken(token);
    const [header, payload, signature] = token.split('.');
    const flipped = signature[0] === 'A' ? 'B' : 'A';
    expect(() => tokens.verifyAccessToken(`${header}.${payload}.${flipped}${signature.slice(1)}`)).toThrow(
      InvalidTokenError,
    );
    // Another tenant in the payload, the original signature: refused.
    const claims = JSON.parse(Buffer.from(payload, 'base64url').toString()) as Record<string, unknown>;
    const forged = Buffer.from(JSON.stringify({ ...claims, tid: '01JBCDEFGHJKMNPQRSTVWXYZ03' })).toString('base64url');
    expect(() => tokens.verifyAccessToken(`${header}.${forged}.${signature}`)).toThrow(InvalidTokenError);
  });

  it('refuses a cached token once it has expired (past the clock tolerance)', () => {
    jest.useFakeTimers({ now: new Date('2026-11-27T12:00:00Z') });
    const tokens = service(randomBytes(32), 60);
    const token = tokens.issueAccessToken({ sub: SUB, scope: 'platform', sid: SID });
    expect(tokens.verifyAccessToken(token).sub).toBe(SUB);
    jest.setSystemTime(new Date('2026-11-27T12:01:04Z')); // exp + 4 s: inside the 5 s tolerance
    expect(tokens.verifyAccessToken(token).sub).toBe(SUB);
    jest.setSystemTime(new Date('2026-11-27T12:01:06Z')); // exp + 6 s
    expect(() => tokens.verifyAccessToken(token)).toThrow(/expired/);
  });

  it('never caches a failure: a token signed with another key stays refused', () => {
    const tokens = service();
    const other = service().issueAccessToken({ sub: SUB, scope: 'tenant', sid: SID, tid: TID });
    expect(() => tokens.verifyAccessToken(other)).toThrow(InvalidTokenError);
    expect(() => tokens.verifyAccessToken(other)).toThrow(InvalidTokenError);
  });

  it('keeps every claim check in front of the cache: a well-signed token without typ at+jwt is refused twice', () => {
    const secret = randomBytes(32);
    const tokens = service(secret);
    const untyped = jwt.sign({ scope: 'platform', sid: SID, jti: 'j' }, secret, {
      algorithm: 'HS256',
      keyid: 'k1',
      issuer: 'chat-platform',
      audience: 'chat-platform',
      subject: SUB,
      expiresIn: 60,
    });
    expect(() => tokens.verifyAccessToken(untyped)).toThrow('wrong typ');
    expect(() => tokens.verifyAccessToken(untyped)).toThrow('wrong typ');
  });
});

describe('TokenService stream tokens', () => {
  const MSG = `${SID}/${SUB}`;

  it('issues a 60-second token naming one reply, which verifies as a stream token only', () => {
    const tokens = service();
    const { token, expiresAt } = tokens.issueStreamToken({ sub: SUB, sid: SID, tid: TID, msg: MSG });
    const claims = tokens.verifyStreamToken(token);
    expect(claims).toMatchObject({ sub: SUB, sid: SID, tid: TID, scope: 'tenant', msg: MSG });
    expect(claims.exp - claims.iat).toBe(60);
    expect(expiresAt.getTime()).toBe(claims.exp * 1000);
    expect(() => tokens.verifyAccessToken(token)).toThrow(InvalidTokenError);
  });

  it('refuses an access token as a stream token', () => {
    const tokens = service();
    const access = tokens.issueAccessToken({ sub: SUB, scope: 'tenant', sid: SID, tid: TID });
    expect(() => tokens.verifyStreamToken(access)).toThrow(InvalidTokenError);
  });

  it('refuses a stream token without a well-formed msg, or of another key', () => {
    const secret = randomBytes(32);
    const tokens = service(secret);
    const forge = (payload: Record<string, unknown>) =>
      jwt.sign({ scope: 'tenant', sid: SID, tid: TID, ...payload }, secret, {
        algorithm: 'HS256',
        expiresIn: 60,
        issuer: 'chat-platform',
        audience: 'chat-platform',
        subject: SUB,
        jwtid: 'j',
        header: { alg: 'HS256', typ: 'stream+jwt', kid: 'k1' },
      });
    expect(tokens.verifyStreamToken(forge({ msg: MSG })).msg).toBe(MSG);
    for (const msg of [undefined, SID, `${SID}/${SUB}/${TID}`, `${SID}/nope`])
      expect(() => tokens.verifyStreamToken(forge({ msg }))).toThrow(InvalidTokenError);
    const other = service().issueStreamToken({ sub: SUB, sid: SID, tid: TID, msg: MSG }).token;
    expect(() => tokens.verifyStreamToken(other)).toThrow(InvalidTokenError);
  });
});
