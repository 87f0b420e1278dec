/**
 * The members of passport (which ships no types) that the authenticator uses: a Passport instance registers
 * strategies by name and runs them in order on a request.
 */
declare module 'passport' {
  export interface PassportStrategyLike {
    name?: string;
    authenticate(request: object, options: object): void;
  }
  export type AuthenticateCallback = (error: unknown, principal?: unknown, info?: unknown, status?: unknown) => void;
  export class Passport {
    use(name: string, strategy: PassportStrategyLike): this;
    authenticate(
      strategies: string[],
      options: object,
      callback: AuthenticateCallback,
    ): (request: object, response: unknown, next: (error?: unknown) => void) => void;
  }
}
