/**
 * Typed client of the chat platform's HTTP API: openapi-fetch over the types openapi-typescript generates from
 * openapi.json (`npm run client:generate` writes schema.d.ts), plus `streamReply()` for streamed replies that
 * resume by `Last-Event-ID` after a dropped connection. docs/client.md shows it in use.
 */
import createFetchClient, { type Client } from 'openapi-fetch';
import type { components, paths } from './schema';
import { streamReply, type StreamReplyOptions, type ReplyEvent } from './streaming';

export type { components, operations, paths } from './schema';
export { ApiError, REPLY_EVENT_NAMES, streamReply } from './streaming';
export type { ReplyEvent, StreamReplyOptions } from './streaming';

type Schemas = components['schemas'];
export type Chat = Schemas['ChatDto'];
export type Message = Schemas['MessageDto'];
export type Exchange = Schemas['ExchangeDto'];
export type Problem = Schemas['ProblemDto'];
export type TokenPair = Schemas['TokenPairDto'];

export interface ChatClientOptions {
  /** The API's origin, e.g. `https://api.example.com`. */
  baseUrl: string;
  /** The access token sent as `Authorization: Bearer …`, read on every request (so a refreshed one is used). */
  accessToken?: () => string | undefined;
  /** A fetch implementation (the global one by default). */
  fetch?: typeof globalThis.fetch;
}

export interface ChatClient extends Client<paths> {
  /** Posts `content` to a chat and yields the reply's events as they arrive (see `streamReply`). */
  streamReply(chatId: string, content: string, options?: StreamReplyOptions): AsyncGenerator<ReplyEvent>;
}

/**
 * A client for every operation of openapi.json (`client.GET('/v1/chats', …)`, `client.POST('/v1/auth/login', …)`:
 * paths, parameters, bodies and answers typed from the document), with the access token added to each request.
 */
export function createChatClient(options: ChatClientOptions): ChatClient {
  const fetchImpl = options.fetch ?? globalThis.fetch;
  const token = options.accessToken ?? (() => undefined);
  const client = createFetchClient<paths>({ baseUrl: options.baseUrl, fetch: fetchImpl });
  client.use({
    onRequest({ request }) {
      const value = token();
      if (value) request.headers.set('authorization', `Bearer ${value}`);
      return request;
    },
  });
  return Object.assign(client, {
    streamReply: (chatId: string, content: string, streamOptions: StreamReplyOptions = {}) =>
      streamReply({ baseUrl: options.baseUrl, fetch: fetchImpl, accessToken: token }, chatId, content, streamOptions),
  });
}
