import { ULID_PATTERN } from '@lib/observability';
import { Injectable } from '@nestjs/common';
import { AppConfig, type JwtSettings } from '@lib/config';
import type { CallerScope } from '@lib/tenancy';
import jwt from 'jsonwebtoken';
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

/**
 * Issues and verifies access tokens. Verification pins the algorithm, issuer, audience, key id and `typ`,
 * requires `exp`, and checks every claim the product relies on. jsonwebtoken accepts tokens without `exp`
 * and ignores `typ` unless told, hence the explicit checks.
 */
@Injectable()
export class TokenService {
  private readonly jwt: JwtSettings;

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
    let decoded: jwt.Jwt;
    try {
      decoded = jwt.verify(token, this.jwt.verifyKey, {
        algorithms: [this.jwt.algorithm],
        issuer: this.jwt.issuer,
        audience: this.jwt.audience,
        complete: true,
        clockTolerance: 5,
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
    return {
      sub: p.sub,
      scope: p.scope,
      sid: p.sid,
      tid: p.tid as string | undefined,
      iat: p.iat,
      exp: p.exp,
      jti: p.jti,
    };
  }
}
