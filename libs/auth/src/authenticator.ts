import { Injectable } from '@nestjs/common';
import { PassportStrategy } from '@nestjs/passport';
import { Passport } from 'passport';
import type { AccessRule } from './access.decorator';

/** The names of the ways in (passport strategies); a route accepts some of them (`@Credentials`). */
export const Strategies = {
  /** `Authorization: Bearer <access token>` (JWT) of either scope. */
  accessToken: 'access-token',
  /** `?token=<stream token>`: one reply's events, for a browser's EventSource (only where a route names it). */
  streamToken: 'stream-token',
  /** `Authorization: Bearer cpk_…`: a tenant's API key (a service principal). */
  apiKey: 'api-key',
  /** A tenant user's e-mail and password (POST /v1/auth/login). */
  tenantPassword: 'tenant-password',
  /** An operator's e-mail and password (POST /v1/platform/auth/login). */
  operatorPassword: 'operator-password',
} as const;
export type StrategyName = (typeof Strategies)[keyof typeof Strategies];

/** What a strategy is told besides the request: the route's access rule (guarded routes). */
export interface StrategyOptions {
  rule?: Exclude<AccessRule, { public: true }>;
}

type Done = (error: unknown, principal?: unknown) => void;
type Verify = (request: object, options: StrategyOptions, done: Done) => void;

/** What passport gives the per-attempt copy of a strategy to report with. */
interface Attempt {
  success(principal: unknown): void;
  fail(): void;
  error(error: unknown): void;
}

/**
 * A passport strategy over the whole request: `verifyRequest` (the subclass's `validate`, through @nestjs/passport)
 * answers a principal (success), nothing (not this strategy's credential: the next strategy runs), or throws
 * (a definitive refusal: the problem the caller gets).
 */
export class RequestStrategy {
  constructor(
    readonly authenticator: Authenticator,
    private readonly verifyRequest: Verify,
  ) {}

  authenticate(this: RequestStrategy & Attempt, request: object, options: StrategyOptions): void {
    this.verifyRequest(request, options, (error, principal) => {
      if (error) this.error(error);
      else if (principal) this.success(principal);
      else this.fail();
    });
  }
}

/**
 * The base of every strategy: registered through @nestjs/passport's `PassportStrategy` under `name`, on this
 * application's own Passport instance rather than passport's process-wide one, so that two applications in one
 * process (tests boot several) never run each other's strategies. A subclass implements
 * `validate(request, options)` and calls `super(authenticator)`.
 */
export function AuthStrategy(name: StrategyName) {
  abstract class Strategy extends PassportStrategy(RequestStrategy, name) {
    getPassportInstance(): Passport {
      return this.authenticator.passport;
    }
  }
  return Strategy;
}

/**
 * The application's Passport instance: strategies register on it, and every way in (the global guard for
 * tokens and keys, the login routes for passwords) runs its strategies through `authenticate`.
 */
@Injectable()
export class Authenticator {
  readonly passport = new Passport();

  /**
   * Runs `strategies` in order on `request`: the first principal wins, a strategy that throws ends the chain
   * with its error, and when none recognises the credential the answer is undefined.
   */
  authenticate<P>(
    strategies: readonly StrategyName[],
    request: object,
    options: StrategyOptions = {},
  ): Promise<P | undefined> {
    return new Promise<P | undefined>((resolve, reject) => {
      const run = this.passport.authenticate([...strategies], { ...options, session: false }, (error, principal) =>
        error ? reject(error) : resolve((principal || undefined) as P | undefined),
      );
      run(request, undefined, (error) => (error ? reject(error) : resolve(undefined)));
    });
  }
}

/** What the password strategies read: the validated body of a login route and the client's address. */
export interface PasswordAttempt {
  body: { tenant?: string; email: string; password: string };
  ip: string;
}
