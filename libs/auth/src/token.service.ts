import { ULID_PATTERN } from '@lib/observability';
import { Injectable } from '@nestjs/common';
import { AppConfig, type JwtSettings } from '@lib/config';
import type { CallerScope } from '@lib/tenancy';
import jwt from 'jsonwebtoken';
import { LRUCache } from 'lru-cache';
import { ulid } from 'ulid';

export const ACCESS_TOKEN_TYPE = 'at+jwt';

export interface AccessClaims {
  sub: string;
  scope: CallerScope;
  sid: string;
  tid?: string;
  iat: number;
  exp: number;
  jti: string;
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

  /** Returns the verified claims or throws InvalidTokenError (the reason is for logs, not for callers). */
  verifyAccessToken(token: string): AccessClaims {
    const cached = this.verified.get(token);
    if (cached) {
      if (Date.now() < (cached.exp + CLOCK_TOLERANCE_S) * 1000) return cached;
      this.verified.delete(token);
    }
    const claims = this.verifyInFull(token);
    this.verified.set(token, claims);
    return claims;
  }

  private verifyInFull(token: string): AccessClaims {
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
    if (header.typ !== ACCESS_TOKEN_TYPE) throw new InvalidTokenError('wrong typ');
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
    return Object.freeze({
      sub: p.sub,
      scope: p.scope,
      sid: p.sid,
      tid: p.tid as string | undefined,
      iat: p.iat,
      exp: p.exp,
      jti: p.jti,
    });
  }
}
