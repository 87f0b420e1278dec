import { createHmac, createSign, type KeyObject } from 'node:crypto';
import request from 'supertest';
import { OPERATOR_EMAIL, OPERATOR_PASSWORD } from './harness';

const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

/** Builds a JWT by hand, so that tests can make every kind of bad token. */
export function forgeToken(
  header: Record<string, unknown>,
  payload: Record<string, unknown>,
  sign: { hmacKey?: string | Buffer | KeyObject; ecKey?: KeyObject; none?: boolean },
): string {
  const input = `${b64(header)}.${b64(payload)}`;
  if (sign.none) return `${input}.`;
  if (sign.ecKey) {
    const signature = createSign('SHA256').update(input).sign({ key: sign.ecKey, dsaEncoding: 'ieee-p1363' });
    return `${input}.${signature.toString('base64url')}`;
  }
  const signature = createHmac('sha256', sign.hmacKey as string)
    .update(input)
    .digest('base64url');
  return `${input}.${signature}`;
}

export interface TokenPair {
  accessToken: string;
  refreshToken: string;
}

export async function loginOperator(
  url: string,
  email = OPERATOR_EMAIL,
  password = OPERATOR_PASSWORD,
): Promise<TokenPair> {
  const res = await request(url).post('/v1/platform/auth/login').send({ email, password }).expect(200);
  return res.body as TokenPair;
}

/** Decodes a JWT's parts without verifying (tests only). */
export function decodeToken(token: string): { header: Record<string, unknown>; payload: Record<string, unknown> } {
  const [h, p] = token.split('.');
  return {
    header: JSON.parse(Buffer.from(h, 'base64url').toString()) as Record<string, unknown>,
    payload: JSON.parse(Buffer.from(p, 'base64url').toString()) as Record<string, unknown>,
  };
}
