/**
 * Jest maps `supertest` here (jest.config.js): the same API, plus a contract check of every response against
 * openapi.json (extra properties forbidden; statuses, content types and stream events as documented). A response
 * that breaks the document fails its test.
 */
import type { Response } from 'supertest';
import { ContractChecker } from './contract';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const real = require('supertest/index.js') as (
  app: unknown,
  options?: unknown,
) => Record<string, (url: string) => { expect(fn: (res: Response) => void): unknown }>;

const METHODS = ['get', 'post', 'put', 'patch', 'delete'] as const;
let checker: ContractChecker | undefined;

function request(app: unknown, options?: unknown) {
  const agent = real(app, options);
  for (const method of METHODS) {
    const original = agent[method];
    agent[method] = (url: string) =>
      original.call(agent, url).expect((res: Response) => {
        checker ??= new ContractChecker();
        checker.check(
          method.toUpperCase(),
          url,
          res.status,
          res.headers['content-type'] as string | undefined,
          res.body,
          res.text,
        );
      }) as ReturnType<typeof original>;
  }
  return agent;
}

module.exports = Object.assign(request, real);
