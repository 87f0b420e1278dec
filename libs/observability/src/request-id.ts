import { randomFillSync } from 'node:crypto';
import { ulid } from 'ulid';

/** A ULID as this platform issues them: 26 characters of Crockford base32. */
export const ULID_PATTERN = /^[0-9A-HJKMNP-TV-Z]{26}$/;

const WELL_FORMED = /^[A-Za-z0-9._:-]{1,128}$/;

/**
 * Random bytes drawn from a pooled buffer: ulid() asks its PRNG 16 times per id, and 16 crypto calls per
 * request cost about 3.6 % of the API's CPU (bench/README.md). One randomFillSync per 4 096 draws instead.
 */
const pool = new Uint16Array(4096);
let next = pool.length;
function pooledRandom(): number {
  if (next >= pool.length) {
    randomFillSync(pool);
    next = 0;
  }
  return pool[next++] / 65536;
}

/** A ULID (time-ordered, 80 random bits from the CSPRNG, drawn from a pool). */
export function fastUlid(): string {
  return ulid(undefined, pooledRandom);
}

/** The caller's X-Request-Id when well-formed, otherwise a new ULID. */
export function requestIdFrom(header: string | string[] | undefined): string {
  const value = Array.isArray(header) ? header[0] : header;
  return value && WELL_FORMED.test(value) ? value : fastUlid();
}
