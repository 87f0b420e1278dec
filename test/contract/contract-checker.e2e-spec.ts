/**
 * The contract check every e2e response goes through (test/support/contract.ts) refuses what openapi.json does not
 * describe: shown here on hand-made answers, so that a check that silently passes everything cannot go unnoticed.
 */
import { ContractChecker } from '../support/contract';

const checker = new ContractChecker();
const problem = (status: number, instance = '/v1/chats') => ({
  type: 'about:blank',
  title: 'x',
  status,
  detail: 'x',
  instance,
  requestId: '01J9Z8Q3M5XK6B2N4P7R8S9T0V',
});
const PROBLEM = 'application/problem+json';
const SSE = 'text/event-stream; charset=utf-8';
const messagesUrl = '/v1/chats/01J9Z8Q3M5XK6B2N4P7R8S9T0V/messages';
const message = {
  id: '01J9Z8Q3M5XK6B2N4P7R8S9T0W',
  chatId: '01J9Z8Q3M5XK6B2N4P7R8S9T0V',
  role: 'assistant',
  content: 'hi',
  status: 'complete',
  createdAt: '2026-01-01T00:00:00.000Z',
};
const event = (name: string, data: unknown, id: string | null = '3') =>
  `${id === null ? '' : `id: ${id}\n`}event: ${name}\ndata: ${JSON.stringify(data)}\n\n`;

describe('the contract check', () => {
  it('accepts documented answers: a problem with a documented status, an unknown route 404, a valid stream', () => {
    expect(() => checker.check('GET', '/v1/chats', 401, PROBLEM, problem(401))).not.toThrow();
    expect(() => checker.check('GET', '/v1/nope', 404, PROBLEM, problem(404, '/v1/nope'))).not.toThrow();
    expect(() =>
      checker.check(
        'POST',
        messagesUrl,
        200,
        SSE,
        undefined,
        event('delta', { text: 'a' }) + event('message.completed', message, 'end'),
      ),
    ).not.toThrow();
  });

  it('refuses a status the operation does not document, problems included', () => {
    expect(() => checker.check('GET', '/v1/chats', 409, PROBLEM, problem(409))).toThrow(/does not document status 409/);
    expect(() => checker.check('GET', '/v1/chats', 418, 'application/json', {})).toThrow(
      /does not document status 418/,
    );
    expect(() => checker.check('GET', '/v1/chats', 204, undefined, undefined)).toThrow(/does not document status 204/);
  });

  it('refuses a problem body that leaks a field or names another status', () => {
    expect(() => checker.check('GET', '/v1/chats', 401, PROBLEM, { ...problem(401), stack: 'at x' })).toThrow(
      /problem/,
    );
    expect(() => checker.check('GET', '/v1/chats', 401, PROBLEM, problem(403))).toThrow(/status is not the response's/);
  });

  it('refuses stream events that are not documented, carry the wrong data, or have no id', () => {
    expect(() => checker.check('POST', messagesUrl, 200, SSE, undefined, event('debug', { x: 1 }))).toThrow(
      /not in x-sse-events/,
    );
    expect(() => checker.check('POST', messagesUrl, 200, SSE, undefined, event('delta', { text: 1 }))).toThrow(/delta/);
    expect(() => checker.check('POST', messagesUrl, 200, SSE, undefined, event('delta', { text: 'a' }, null))).toThrow(
      /has no id/,
    );
  });
});
