import { ULID_PATTERN } from '@lib/observability';
import { Injectable } from '@nestjs/common';
import { AppConfig, type JwtSettings } from '@lib/config';
import type { CallerScope } from '@lib/tenancy';
import jwt from 'jsonwebtoken';
import { LRUCache } from 'lru-cache';
import { ulid } from 'ulid';

export const ACCESS_TOKEN_TYPE = 'at+jwt';
/** The `typ` of a stream token: never accepted where an access token is, nor the reverse. */
export const STREAM_TOKEN_TYPE = 'stream+jwt';
/**
 * The lifetime of a stream token. It travels in a URL (`?token=`), which proxies and servers may log: it lives
 * only long enough for a browser to open (and reconnect) its EventSource, so a logged one is soon worthless.
 */
export const STREAM_TOKEN_TTL_SECONDS = 60;

export interface AccessClaims {
  sub: string;
  scope: CallerScope;
  sid: string;
  tid?: string;
  iat: number;
  exp: number;
  jti: string;
}

/**
 * A stream token's claims: those of the access token it was issued against (tenant, user, session), and the one
 * reply it reads (`msg`: `chatId/messageId`).
 */
export interface StreamClaims extends AccessClaims {
  scope: 'tenant';
  tid: string;
  msg: string;
}

/** `msg` of a stream token: a chat id and a message id. */
function isStreamTarget(value: unknown): value is string {
  if (typeof value !== 'string') return false;
  const parts = value.split('/');
  return parts.length === 2 && parts.every((id) => ULID_PATTERN.test(id));
}

export class InvalidTokenError extends Error {
  constructor(reason: string) {
    super(reason);
    this.name = 'InvalidTokenError';
  }
}

/** Seconds of clock skew tolerated on `exp` (and `iat`), here and in jsonwebtoken. */
const CLOCK_TOLERANCE_S = 5;
/** Distinct access tokens whose verification is remembered (about 0.5 KiB each). */
const VERIFIED_CACHE_MAX = 10_000;

/**
 * Issues and verifies access tokens. Verification pins the algorithm, issuer, audience, key id and `typ`,
 * requires `exp`, and checks every claim the product relies on. jsonwebtoken accepts tokens without `exp`
 * and ignores `typ` unless told, hence the explicit checks.
 *
 * A client sends the same access token with every request until it expires, so the claims of a token that
 * passed verification are remembered, keyed by the whole token (signature included: a token that differs in
 * one character is a miss and is verified in full), until its `exp`. Only successes are cached. This is not
 * a revocation bypass: after this step, on every request, the guard checks the tenant (active) and the caller
 * (the user or operator exists, is not disabled, and the token was issued after their last revocation), from
 * caches the change feed keeps fresh. Sessions are read only at refresh: a logout revokes the session, which stops
 * its refresh token, and the access token in hand stays valid until its `exp`.
 */
@Injectable()
export class TokenService {
  private readonly jwt: JwtSettings;
  private readonly verified = new LRUCache<string, AccessClaims>({ max: VERIFIED_CACHE_MAX });

  constructor(config: AppConfig) {
    this.jwt = config.jwt;
  }

  get accessTtlSeconds(): number {
    return this.jwt.accessTtlSeconds;
  }

  issueAccessToken(subject: { sub: string; scope: CallerScope; sid: string; tid?: string }): string {
    const payload: Record<string, unknown> = { scope: subject.scope, sid: subject.sid };
    if (subject.tid) payload.tid = subject.tid;
    return jwt.sign(payload, this.jwt.signingKey, {
      algorithm: this.jwt.algorithm,
      expiresIn: this.jwt.accessTtlSeconds,
      issuer: this.jwt.issuer,
      audience: this.jwt.audience,
      subject: subject.sub,
      jwtid: ulid(),
      header: { alg: this.jwt.algorithm, typ: ACCESS_TOKEN_TYPE, kid: this.jwt.kid },
    });
  }

  /**
   * A token that lets a browser's EventSource (which cannot set `Authorization`) read one reply's events: same key,
   * issuer and audience as access tokens, a distinct `typ`, and STREAM_TOKEN_TTL_SECONDS to live.
   */
  issueStreamToken(subject: { sub: string; sid: string; tid: string; msg: string }): {
    token: string;
    expiresAt: Date;
  } {
    const now = Math.floor(Date.now() / 1000);
    const token = jwt.sign(
      { scope: 'tenant', sid: subject.sid, tid: subject.tid, msg: subject.msg, iat: now },
      this.jwt.signingKey,
      {
        algorithm: this.jwt.algorithm,
        expiresIn: STREAM_TOKEN_TTL_SECONDS,
        issuer: this.jwt.issuer,
        audience: this.jwt.audience,
        subject: subject.sub,
        jwtid: ulid(),
        header: { alg: this.jwt.algorithm, typ: STREAM_TOKEN_TYPE, kid: this.jwt.kid },
      },
    );
    return { token, expiresAt: new Date((now + STREAM_TOKEN_TTL_SECONDS) * 1000) };
  }

  /** Returns a stream token's verified claims or throws InvalidTokenError. Not cached: a token serves a few requests. */
  verifyStreamToken(token: string): StreamClaims {
    const { claims, payload } = this.verifyInFull(token, STREAM_TOKEN_TYPE);
    if (claims.scope !== 'tenant') throw new InvalidTokenError('stream token of the platform scope');
    if (!isStreamTarget(payload.msg)) throw new InvalidTokenError('bad msg');
    return Object.freeze({ ...claims, scope: 'tenant', tid: claims.tid as string, msg: payload.msg });
  }

  /** Returns the verified claims or throws InvalidTokenError (the reason is for logs, not for callers). */
  verifyAccessToken(token: string): AccessClaims {
    const cached = this.verified.get(token);
    if (cached) {
      if (Date.now() < (cached.exp + CLOCK_TOLERANCE_S) * 1000) return cached;
      this.verified.delete(token);
    }
    const { claims } = this.verifyInFull(token, ACCESS_TOKEN_TYPE);
    this.verified.set(token, claims);
    return claims;
  }

  private verifyInFull(token: string, typ: string): { claims: AccessClaims; payload: Record<string, unknown> } {
    let decoded: jwt.Jwt;
    try {
      decoded = jwt.verify(token, this.jwt.verifyKey, {
        algorithms: [this.jwt.algorithm],
        issuer: this.jwt.issuer,
        audience: this.jwt.audience,
        complete: true,
        clockTolerance: CLOCK_TOLERANCE_S,
      });
    } catch (error) {
      throw new InvalidTokenError((error as Error).message);
    }
    const { header } = decoded;
    if (header.typ !== typ) throw new InvalidTokenError('wrong typ');
    if (header.kid !== this.jwt.kid) throw new InvalidTokenError('unknown kid');
    const p = decoded.payload as Record<string, unknown>;
    if (typeof p.exp !== 'number') throw new InvalidTokenError('missing exp');
    if (typeof p.iat !== 'number') throw new InvalidTokenError('missing iat');
    if (typeof p.sub !== 'string' || !ULID_PATTERN.test(p.sub)) throw new InvalidTokenError('bad sub');
    if (typeof p.sid !== 'string' || !ULID_PATTERN.test(p.sid)) throw new InvalidTokenError('bad sid');
    if (typeof p.jti !== 'string') throw new InvalidTokenError('missing jti');
    if (p.scope === 'tenant') {
      if (typeof p.tid !== 'string' || !ULID_PATTERN.test(p.tid)) throw new InvalidTokenError('bad tid');
    } else if (p.scope === 'platform') {
      if (p.tid !== undefined) throw new InvalidTokenError('platform token with tid');
    } else {
      throw new InvalidTokenError('bad scope');
    }
    const claims: AccessClaims = Object.freeze({
      sub: p.sub,
      scope: p.scope,
      sid: p.sid,
      tid: p.tid as string | undefined,
      iat: p.iat,
      exp: p.exp,
      jti: p.jti,
    });
    return { claims, payload: p };
  }
}
