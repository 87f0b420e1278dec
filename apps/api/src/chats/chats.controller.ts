import { Body, Controller, Delete, Get, Headers, HttpCode, HttpStatus, Patch, Post, Req, Res } from '@nestjs/common';
import {
  ApiCreatedResponse,
  ApiHeader,
  ApiNoContentResponse,
  ApiOkResponse,
  ApiProduces,
  ApiTags,
} from '@nestjs/swagger';
import { Authenticated, CurrentCaller, Permission } from '@lib/auth';
import { ApiProblem, DomainError } from '@lib/observability';
import type { Caller } from '@lib/tenancy';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { parseIfMatch, setEtag } from '../common/etag';
import { type PageQuery, PageQueryParams } from '../common/pagination';
import { problem } from '../common/problem';
import { renderError } from '../common/problem.filter';
import { UlidParam } from '../common/params';
import { ChatsService, toChatDto } from './chats.service';
import {
  ChatDto,
  ChatPageDto,
  CreateChatDto,
  ExchangeDto,
  MessagePageDto,
  PostMessageDto,
  UpdateChatDto,
} from './dto/chat.dto';
import { MessagesService } from './messages.service';

const IDEMPOTENCY_KEY = /^[\x21-\x7E]{1,128}$/;

function idempotencyKeyOf(header: string | undefined): string | undefined {
  if (header === undefined) return undefined;
  if (!IDEMPOTENCY_KEY.test(header)) {
    throw new DomainError('invalid_input', 'the request is not valid', {
      errors: [{ field: 'Idempotency-Key', message: '1 to 128 printable characters' }],
    });
  }
  return header;
}

@ApiTags('chats')
@Controller('v1/chats')
export class ChatsController {
  constructor(
    private readonly chats: ChatsService,
    private readonly messages: MessagesService,
  ) {}

  @Post()
  @Authenticated({ permission: Permission.ChatsWrite })
  @ApiHeader({ name: 'Idempotency-Key', required: false })
  @ApiCreatedResponse({ type: ChatDto })
  @ApiProblem(404, 'A replay (same Idempotency-Key and body) whose chat has since been deleted')
  async create(
    @CurrentCaller() caller: Caller,
    @Body() body: CreateChatDto,
    @Headers('idempotency-key') idempotencyHeader: string | undefined,
    @Res() reply: FastifyReply,
  ): Promise<void> {
    const response = await this.chats.createIdempotent(caller, body, idempotencyKeyOf(idempotencyHeader));
    setEtag(reply, 1);
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
  @ApiOkResponse({ type: ChatDto })
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
  @ApiHeader({ name: 'If-Match', required: false })
  @ApiOkResponse({ type: ChatDto })
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
   * 201 `{ userMessage, assistantMessage }`, or with `Accept: text/event-stream` Server-Sent Events:
   * `message.created`, `delta`*, then `message.completed` or `error`.
   */
  @Post(':chatId/messages')
  @Authenticated({ permission: Permission.ChatsWrite })
  @ApiHeader({ name: 'Idempotency-Key', required: false })
  @ApiProduces('application/json', 'text/event-stream')
  @ApiCreatedResponse({ type: ExchangeDto })
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
    const gone = new AbortController();
    const onClose = () => {
      if (!reply.raw.writableFinished) gone.abort();
    };
    reply.raw.on('close', onClose);
    try {
      if (!accept?.includes('text/event-stream')) {
        const outcome = await this.messages.post(caller, chatId, body.content, key, {
          signal: gone.signal,
          onUserMessage: () => {},
          onDelta: () => {},
        });
        void reply.status(outcome.response.status).send(outcome.response.body);
        return;
      }
      await this.stream(caller, chatId, body.content, key, request, reply, gone.signal);
    } finally {
      reply.raw.off('close', onClose);
    }
  }

  private async stream(
    caller: Caller,
    chatId: string,
    content: string,
    key: string | undefined,
    request: FastifyRequest,
    reply: FastifyReply,
    signal: AbortSignal,
  ): Promise<void> {
    // Checks that fail fast answer as plain problem responses, before the stream opens.
    this.messages.validate(content);
    let open = false;
    const send = (event: string, data: unknown) => {
      if (!open) {
        reply.hijack();
        reply.raw.writeHead(200, {
          ...(reply.getHeaders() as Record<string, string>),
          'content-type': 'text/event-stream; charset=utf-8',
          'cache-control': 'no-cache, no-transform',
          'x-accel-buffering': 'no',
        });
        open = true;
      }
      if (!reply.raw.destroyed) reply.raw.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
    };
    try {
      const outcome = await this.messages.post(caller, chatId, content, key, {
        signal,
        onUserMessage: (message) => send('message.created', message),
        onDelta: (text) => send('delta', { text }),
      });
      if (outcome.kind === 'replay') {
        // A replay answers with the stored response as JSON (the final assistant message included).
        void reply
          .status(outcome.response.status)
          .header('content-type', 'application/json')
          .send(outcome.response.body);
        return;
      }
      send('message.completed', (outcome.response.body as ExchangeDto).assistantMessage);
    } catch (error) {
      if (!open) throw error;
      const rendered = renderError(error, request.id);
      send('error', problem(rendered.status, rendered.detail, request.url, request.id, rendered.errors));
    }
    if (open && !reply.raw.destroyed) reply.raw.end();
  }
}
