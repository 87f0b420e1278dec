import {
  Body,
  Controller,
  Delete,
  Get,
  Headers,
  HttpCode,
  HttpStatus,
  Patch,
  Post,
  Query,
  Req,
  Res,
} from '@nestjs/common';
import {
  ApiAcceptedResponse,
  ApiCreatedResponse,
  ApiHeader,
  ApiNoContentResponse,
  ApiOkResponse,
  ApiOperation,
  ApiProduces,
  ApiQuery,
  ApiTags,
  getSchemaPath,
} from '@nestjs/swagger';
import { Authenticated, Credentials, CurrentCaller, Permission, Strategies, TokenService } from '@lib/auth';
import { ApiProblem, DomainError } from '@lib/observability';
import type { Caller } from '@lib/tenancy';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { CREATED_HEADERS, ETAG_HEADER, IF_MATCH_HEADER, parseIfMatch, setCreated, setEtag } from '../common/etag';
import { type PageQuery, PageQueryParams } from '../common/pagination';
import { ApiEventStream } from '../common/openapi-contract';
import { UlidParam } from '../common/params';
import { ChatsService, toChatDto, toMessageDto } from './chats.service';
import {
  ChatDto,
  ChatPageDto,
  CreateChatDto,
  ExchangeDto,
  MessageDto,
  MessagePageDto,
  PostMessageDto,
  StreamTokenDto,
  UpdateChatDto,
} from './dto/chat.dto';
import { GenerationService } from './generation.service';
import { idempotencyKeyOf } from './idempotency.service';
import { MessagesService } from './messages.service';
import { ReplyStreams } from './reply-streams';
import { SseWriter } from './sse';

const MESSAGE = { $ref: getSchemaPath(MessageDto) };
/**
 * The events of a reply stream (docs/streaming.md), each with an `id:`: `message.created` (the user message, POST
 * only) and `message.started` (the assistant message, generating) with id 0; `delta` with the reply's length after
 * it; then `message.completed`, `message.cancelled` (stored as incomplete) or `error`, with id `end`.
 */
const REPLY_EVENTS = {
  'message.created': MESSAGE,
  'message.started': MESSAGE,
  delta: {
    type: 'object' as const,
    required: ['text'],
    properties: { text: { type: 'string' as const } },
    additionalProperties: false,
  },
  'message.completed': MESSAGE,
  'message.cancelled': MESSAGE,
  error: { $ref: '#/components/schemas/ProblemDto' },
};

@ApiTags('chats')
@Controller('v1/chats')
export class ChatsController {
  constructor(
    private readonly chats: ChatsService,
    private readonly messages: MessagesService,
    private readonly generations: GenerationService,
    private readonly streams: ReplyStreams,
    private readonly tokens: TokenService,
  ) {}

  @Post()
  @Authenticated({ permission: Permission.ChatsWrite })
  @ApiHeader({ name: 'Idempotency-Key', required: false })
  @ApiCreatedResponse({ type: ChatDto, headers: CREATED_HEADERS })
  @ApiProblem(404, 'A replay (same Idempotency-Key and body) whose chat has since been deleted')
  async create(
    @CurrentCaller() caller: Caller,
    @Body() body: CreateChatDto,
    @Headers('idempotency-key') idempotencyHeader: string | undefined,
    @Res() reply: FastifyReply,
  ): Promise<void> {
    const response = await this.chats.createIdempotent(caller, body, idempotencyKeyOf(idempotencyHeader));
    // A replay names the chat the first request created (its first version).
    if (response.status === 201) setCreated(reply, `/v1/chats/${(response.body as ChatDto).id}`, 1);
    void reply.status(response.status).send(response.body);
  }

  @Get()
  @Authenticated({ permission: Permission.ChatsRead })
  @ApiOkResponse({ type: ChatPageDto })
  list(@CurrentCaller() caller: Caller, @PageQueryParams() query: PageQuery): Promise<ChatPageDto> {
    return this.chats.list(caller, query);
  }

  @Get(':chatId')
  @Authenticated({ permission: Permission.ChatsRead })
  @ApiOkResponse({ type: ChatDto, headers: ETAG_HEADER })
  async get(
    @CurrentCaller() caller: Caller,
    @UlidParam('chatId') chatId: string,
    @Res({ passthrough: true }) reply: FastifyReply,
  ): Promise<ChatDto> {
    const chat = await this.chats.get(caller, chatId, 'read');
    setEtag(reply, chat.version);
    return toChatDto(chat);
  }

  @Patch(':chatId')
  @Authenticated({ permission: Permission.ChatsWrite })
  @ApiHeader(IF_MATCH_HEADER)
  @ApiOkResponse({ type: ChatDto, headers: ETAG_HEADER })
  async update(
    @CurrentCaller() caller: Caller,
    @UlidParam('chatId') chatId: string,
    @Body() body: UpdateChatDto,
    @Headers('if-match') ifMatch: string | undefined,
    @Res({ passthrough: true }) reply: FastifyReply,
  ): Promise<ChatDto> {
    const chat = await this.chats.update(caller, chatId, body, parseIfMatch(ifMatch));
    setEtag(reply, chat.version);
    return toChatDto(chat);
  }

  @Delete(':chatId')
  @Authenticated({ permission: Permission.ChatsWrite })
  @HttpCode(HttpStatus.NO_CONTENT)
  @ApiNoContentResponse()
  delete(@CurrentCaller() caller: Caller, @UlidParam('chatId') chatId: string): Promise<void> {
    return this.chats.delete(caller, chatId);
  }

  @Get(':chatId/messages')
  @Authenticated({ permission: Permission.ChatsRead })
  @ApiOkResponse({ type: MessagePageDto })
  listMessages(
    @CurrentCaller() caller: Caller,
    @UlidParam('chatId') chatId: string,
    @PageQueryParams() query: PageQuery,
  ): Promise<MessagePageDto> {
    return this.chats.messages(caller, chatId, query);
  }

  /**
   * 201 `{ userMessage, assistantMessage }` once the reply is final, or with `Accept: text/event-stream` Server-Sent
   * Events (docs/streaming.md). The reply runs to its end even if the client goes away. A retry with the same
   * Idempotency-Key attaches to the exchange it started: its events (SSE), or its state (JSON: 202 while it runs).
   */
  @Post(':chatId/messages')
  @Authenticated({ permission: Permission.ChatsWrite })
  @ApiHeader({ name: 'Idempotency-Key', required: false })
  @ApiProduces('application/json', 'text/event-stream')
  @ApiCreatedResponse({ type: ExchangeDto })
  @ApiAcceptedResponse({
    type: ExchangeDto,
    description: 'A retry with the same Idempotency-Key while its reply is generating: the exchange as it is now',
  })
  @ApiEventStream(REPLY_EVENTS)
  async postMessage(
    @CurrentCaller() caller: Caller,
    @UlidParam('chatId') chatId: string,
    @Body() body: PostMessageDto,
    @Headers('idempotency-key') idempotencyHeader: string | undefined,
    @Headers('accept') accept: string | undefined,
    @Req() request: FastifyRequest,
    @Res() reply: FastifyReply,
  ): Promise<void> {
    const key = idempotencyKeyOf(idempotencyHeader);
    // Checks that fail fast answer as plain problem responses, before any stream opens.
    this.messages.validate(body.content);
    const outcome = await this.messages.post(caller, chatId, body.content, key);
    if (outcome.kind === 'replay') {
      void reply.status(outcome.response.status).header('content-type', 'application/json').send(outcome.response.body);
      return;
    }
    if (accept?.includes('text/event-stream')) {
      const sse = new SseWriter(request, reply);
      await sse.stream(async () => {
        if (outcome.kind === 'started') {
          await this.streams.live(sse, outcome.userMessage, outcome.assistant, outcome.run);
          return;
        }
        sse.send('message.created', outcome.userMessage, 0);
        await this.streams.follow(sse, outcome.assistant, undefined);
      });
      return;
    }
    if (outcome.kind === 'attached') {
      const status = outcome.assistant.status === 'generating' ? 202 : 201;
      void reply
        .status(status)
        .send({ userMessage: outcome.userMessage, assistantMessage: toMessageDto(outcome.assistant) });
      return;
    }
    const ended = await outcome.run.done;
    if (ended.error) throw ended.error;
    void reply.status(201).send({ userMessage: outcome.userMessage, assistantMessage: toMessageDto(ended.message) });
  }

  /** One message, with its status; a reply being generated with the text written so far. */
  @Get(':chatId/messages/:messageId')
  @Authenticated({ permission: Permission.ChatsRead })
  @ApiOkResponse({ type: MessageDto })
  async getMessage(
    @CurrentCaller() caller: Caller,
    @UlidParam('chatId') chatId: string,
    @UlidParam('messageId') messageId: string,
  ): Promise<MessageDto> {
    const message = await this.messages.find(caller, chatId, messageId, 'read');
    return toMessageDto(await this.generations.current(message));
  }

  /**
   * A short-lived token for a browser's EventSource, which cannot set `Authorization`: `GET …/events?token=` of this
   * reply only (docs/streaming.md). Authorised exactly as reading the message, which is checked before anything is
   * issued. Only a signed-in user's access token gets one: the token stands for that user and session.
   */
  @Post(':chatId/messages/:messageId/stream-token')
  @Authenticated({ permission: Permission.ChatsRead })
  @Credentials(Strategies.accessToken)
  @ApiOperation({ operationId: 'createStreamToken' })
  @ApiCreatedResponse({ type: StreamTokenDto })
  async streamToken(
    @CurrentCaller() caller: Caller,
    @UlidParam('chatId') chatId: string,
    @UlidParam('messageId') messageId: string,
  ): Promise<StreamTokenDto> {
    await this.messages.findReply(caller, chatId, messageId);
    const { token, expiresAt } = this.tokens.issueStreamToken({
      sub: caller.id,
      sid: caller.sessionId,
      tid: caller.tenantId as string,
      msg: `${chatId}/${messageId}`,
    });
    return { token, expiresAt: expiresAt.toISOString() };
  }

  /**
   * A reply's events, from any instance (docs/streaming.md): everything, or what came after `Last-Event-ID` (or
   * `?after=`), then live until its end. Authorised exactly as reading the message. 204 after the terminal event.
   * An access token or API key in `Authorization`, or a stream token of this reply in `?token=` (a browser's
   * EventSource).
   */
  @Get(':chatId/messages/:messageId/events')
  @Authenticated({ permission: Permission.ChatsRead })
  @Credentials(Strategies.accessToken, Strategies.apiKey, Strategies.streamToken)
  @ApiOperation({ operationId: 'streamReplyEvents' })
  @ApiQuery({
    name: 'token',
    required: false,
    description: 'A stream token of this reply (POST …/stream-token), for clients that cannot set Authorization',
  })
  @ApiHeader({ name: 'Last-Event-ID', required: false, description: 'The id of the last event received' })
  @ApiQuery({ name: 'after', required: false, description: 'Same as Last-Event-ID (for clients that cannot set it)' })
  @ApiProduces('text/event-stream')
  @ApiEventStream(REPLY_EVENTS)
  @ApiNoContentResponse({ description: 'The client already has the terminal event (`Last-Event-ID: end`)' })
  async events(
    @CurrentCaller() caller: Caller,
    @UlidParam('chatId') chatId: string,
    @UlidParam('messageId') messageId: string,
    @Headers('last-event-id') lastEventId: string | undefined,
    @Query('after') afterQuery: string | undefined,
    @Req() request: FastifyRequest,
    @Res() reply: FastifyReply,
  ): Promise<void> {
    const after = eventCursor(lastEventId ?? afterQuery);
    const message = await this.messages.findReply(caller, chatId, messageId);
    if (after === 'end') {
      // An EventSource stops reconnecting on 204.
      void reply.status(204).send();
      return;
    }
    const sse = new SseWriter(request, reply);
    await sse.stream(() => this.streams.follow(sse, message, after));
  }

  /**
   * Stops a reply being generated, from any instance: the partial reply is stored as `incomplete` (200 with it), or
   * 202 when it is still stopping after a second. A final message is returned as it is.
   */
  @Post(':chatId/messages/:messageId/cancel')
  @Authenticated({ permission: Permission.ChatsWrite })
  @ApiOperation({ operationId: 'cancelReply' })
  @HttpCode(HttpStatus.OK)
  @ApiOkResponse({ type: MessageDto })
  @ApiAcceptedResponse({ type: MessageDto, description: 'Cancel requested; the reply is still stopping' })
  async cancel(
    @CurrentCaller() caller: Caller,
    @UlidParam('chatId') chatId: string,
    @UlidParam('messageId') messageId: string,
    @Res({ passthrough: true }) reply: FastifyReply,
  ): Promise<MessageDto> {
    const message = await this.generations.cancel(await this.messages.find(caller, chatId, messageId, 'write'));
    if (message.status === 'generating') void reply.status(202);
    return toMessageDto(message);
  }
}

/** A resume position: a character offset of the reply, `end` (the terminal event was received), or none. */
function eventCursor(value: string | undefined): number | 'end' | undefined {
  if (value === undefined || value === '') return undefined;
  if (value === 'end') return 'end';
  if (/^\d{1,9}$/.test(value)) return Number(value);
  throw new DomainError('invalid_input', 'the request is not valid', {
    errors: [{ field: 'Last-Event-ID', message: 'an event id: a number or end' }],
  });
}
