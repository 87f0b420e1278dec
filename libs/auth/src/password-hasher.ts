import { Injectable } from '@nestjs/common';
import { Algorithm, hash, verify } from '@node-rs/argon2';
import { availableParallelism } from 'node:os';

/** argon2id with OWASP's parameters (m = 19 MiB, t = 2, p = 1); runs on the libuv pool, off the event loop. */
export const ARGON2_OPTIONS = {
  algorithm: Algorithm.Argon2id,
  memoryCost: 19_456,
  timeCost: 2,
  parallelism: 1,
} as const;

/**
 * At most this many argon2 computations at once. Measured (bench/README.md, login storm): with all four libuv
 * threads hashing on 2 cores, the event loop waited ~700 ms per second for a CPU and its delay p99 went ×19.
 * Leaving a core to the event loop keeps the API responsive while logins queue.
 */
export const MAX_CONCURRENT_HASHES = Math.max(1, availableParallelism() - 1);

@Injectable()
export class PasswordHasher {
  private running = 0;
  private readonly waiting: Array<() => void> = [];

  /** A real hash of a random password, verified when the account is missing so that timing matches. */
  private dummy: Promise<string> | undefined;

  hash(password: string): Promise<string> {
    return this.limited(() => hash(password, ARGON2_OPTIONS));
  }

  async verify(passwordHash: string, password: string): Promise<boolean> {
    try {
      return await this.limited(() => verify(passwordHash, password));
    } catch {
      return false;
    }
  }

  /** Runs `work` when a slot is free; a finishing run hands its slot straight to the next in line. */
  private async limited<T>(work: () => Promise<T>): Promise<T> {
    if (this.running < MAX_CONCURRENT_HASHES) this.running++;
    else await new Promise<void>((resolve) => this.waiting.push(resolve));
    try {
      return await work();
    } finally {
      const next = this.waiting.shift();
      if (next) next();
      else this.running--;
    }
  }

  /** Spends the same time as a verify against a real hash, then fails. */
  async verifyDummy(password: string): Promise<false> {
    this.dummy ??= this.hash(`dummy-${Math.random()}-${Date.now()}`);
    await this.verify(await this.dummy, password);
    return false;
  }
}
