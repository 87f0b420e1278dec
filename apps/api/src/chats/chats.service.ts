import { Injectable } from '@nestjs/common';
import { assertChatAccess } from '@lib/auth';
import { type CursorBinding, CursorCodec, Entities, RETRY, retryOptimistic } from '@lib/dynamo';
import { DomainError } from '@lib/observability';
import { type Caller, RequestContext } from '@lib/tenancy';
import { ulid } from 'ulid';
import type { StoredResponse } from './idempotency.repository';
import { IdempotencyService } from './idempotency.service';
import type { PageQuery } from '../common/pagination';
import { type ChatRecord, isExpired, type MessageRecord } from './chat.types';
import { ChatsRepository } from './chats.repository';
import type { ChatDto, ChatPageDto, CreateChatDto, MessageDto, MessagePageDto, UpdateChatDto } from './dto/chat.dto';
import { LlmRegistry } from './llm/llm-registry';

/** The response fields of a chat, in the response's order (from a record, or from a stored response). */
export function toChatDto(c: ChatDto): ChatDto {
  return {
    id: c.id,
    title: c.title,
    systemPrompt: c.systemPrompt,
    model: c.model,
    createdAt: c.createdAt,
    updatedAt: c.updatedAt,
    messageCount: c.messageCount,
  };
}

export function toMessageDto(m: MessageRecord): MessageDto {
  return {
    id: m.id,
    chatId: m.chatId,
    role: m.role,
    content: m.content,
    status: m.status,
    ...(m.model ? { model: m.model } : {}),
    ...(m.usage ? { usage: { inputTokens: m.usage.inputTokens, outputTokens: m.usage.outputTokens } } : {}),
    createdAt: m.createdAt,
  };
}

/** Epoch seconds at which an item written now expires under the tenant's retention, or undefined. */
export function retentionExpiry(): number | undefined {
  const days = RequestContext.tenant().settings.retentionDays;
  return days ? Math.floor(Date.now() / 1000) + days * 86_400 : undefined;
}

/** Chats: create, list own, read (own, or any with chats:read:any), rename, delete, page messages. */
@Injectable()
export class ChatsService {
  constructor(
    private readonly repository: ChatsRepository,
    private readonly cursors: CursorCodec,
    private readonly llm: LlmRegistry,
    private readonly idempotency: IdempotencyService,
  ) {}

  /** Creates a chat; with an Idempotency-Key, the same key and body replay the first response. */
  async createIdempotent(caller: Caller, dto: CreateChatDto, key: string | undefined): Promise<StoredResponse> {
    return this.idempotency.execute(caller.id, key, {
      fingerprint: ['POST', '/v1/chats', dto.title ?? null, dto.systemPrompt ?? null, dto.model ?? null],
      leaseMs: 30_000,
      run: async (held) => {
        const response = { status: 201, body: toChatDto(await this.create(caller, dto)) };
        if (held) await this.idempotency.complete(held, response);
        return response;
      },
      replay: (response) => this.replay(response),
    });
  }

  /**
   * The stored response again, with its fields in the order of the first answer (the stored map does not keep
   * it). A chat deleted (or expired) since is not handed out as if it existed: 404, saying why.
   */
  private async replay(response: StoredResponse): Promise<StoredResponse> {
    if (response.status !== 201) return response;
    const created = response.body as ChatDto;
    const chat = await this.repository.get(created.id);
    if (!chat || isExpired(chat))
      throw new DomainError('not_found', 'the chat created by this request has since been deleted');
    return { status: 201, body: toChatDto(created) };
  }

  async create(caller: Caller, dto: CreateChatDto): Promise<ChatRecord> {
    const now = new Date().toISOString();
    const expiresAt = retentionExpiry();
    const chat: ChatRecord = {
      id: ulid(),
      ownerId: caller.id,
      title: dto.title?.trim() || 'New chat',
      systemPrompt: dto.systemPrompt ?? '',
      model: dto.model ?? this.llm.forTenant(RequestContext.tenant()).model,
      messageCount: 0,
      createdAt: now,
      updatedAt: now,
      version: 1,
      ...(expiresAt ? { expiresAt } : {}),
    };
    await this.repository.create(chat);
    return chat;
  }

  async list(caller: Caller, query: PageQuery): Promise<ChatPageDto> {
    const binding: CursorBinding = { tenant: RequestContext.tenant().id, list: 'chats', caller: caller.id };
    const start = query.cursor ? this.cursors.decode(query.cursor, binding) : undefined;
    const page = await this.repository.listByOwner(caller.id, query.limit, start);
    return {
      items: page.items.filter((c) => !isExpired(c)).map(toChatDto),
      nextCursor: this.cursors.encode(page.lastKey, binding),
    };
  }

  /** The chat if the caller may `mode` it; otherwise (missing, expired, someone else's) 404. */
  async get(caller: Caller, id: string, mode: 'read' | 'write'): Promise<ChatRecord> {
    const chat = await this.repository.get(id);
    if (!chat || isExpired(chat)) throw new DomainError('not_found', 'chat not found');
    assertChatAccess(caller, chat.ownerId, mode);
    return chat;
  }

  /** Renames or re-prompts at the version read; without If-Match a concurrent change is retried on the new one. */
  async update(caller: Caller, id: string, dto: UpdateChatDto, ifMatch: number | undefined): Promise<ChatRecord> {
    return retryOptimistic(
      async () => {
        const chat = await this.get(caller, id, 'write');
        if (ifMatch !== undefined && chat.version !== ifMatch)
          throw new DomainError('precondition_failed', 'the chat was changed since you read it');
        const changes: Partial<ChatRecord> = {};
        if (dto.title !== undefined) changes.title = dto.title.trim() || chat.title;
        if (dto.systemPrompt !== undefined) changes.systemPrompt = dto.systemPrompt;
        const updated = await this.repository.update(chat, changes, new Date().toISOString());
        if (updated) return updated;
        if (ifMatch !== undefined)
          throw new DomainError('precondition_failed', 'the chat was changed since you read it');
        return RETRY;
      },
      { conflict: 'the chat is being changed concurrently; retry' },
    );
  }

  async delete(caller: Caller, id: string): Promise<void> {
    await this.get(caller, id, 'write');
    await this.repository.delete(id);
  }

  /**
   * One DynamoDB request per page: the first page's Query returns the chat and the messages; later pages read
   * the chat's owner from the signed cursor (bound to tenant, caller and chat). Access is checked on every page
   * with the caller's current permissions, so a cursor does not outlive the access it was issued under.
   */
  async messages(caller: Caller, chatId: string, query: PageQuery): Promise<MessagePageDto> {
    const binding: CursorBinding = {
      tenant: RequestContext.tenant().id,
      list: `messages:${chatId}`,
      caller: caller.id,
    };
    let after: string | undefined;
    let ownerId: string | undefined;
    if (query.cursor) {
      const { key, claims } = this.cursors.open(query.cursor, binding);
      after = String(key.sk ?? '');
      ownerId = claims.owner;
      if (!Entities.message.isMessageSk(after) || !ownerId) throw new DomainError('invalid_input', 'invalid cursor');
      assertChatAccess(caller, ownerId, 'read');
    }
    const page = await this.repository.page(chatId, query.limit, after);
    if (after === undefined) {
      if (!page.chat || isExpired(page.chat)) throw new DomainError('not_found', 'chat not found');
      assertChatAccess(caller, page.chat.ownerId, 'read');
      ownerId = page.chat.ownerId;
    }
    const last = page.messages.at(-1);
    return {
      items: page.messages.filter((m) => !isExpired(m)).map(toMessageDto),
      nextCursor:
        page.more && last && ownerId ? this.cursors.encode({ sk: last.sk }, binding, { owner: ownerId }) : null,
    };
  }

  /**
   * Deletes every chat `ownerId` owns, with all of its messages (expired ones too), when the user is deleted.
   * Page by page of the owner's list (gsi1); a deleted chat's key still marks where the next page starts.
   */
  async deleteAllOwnedBy(ownerId: string): Promise<void> {
    await this.repository.deleteAllOwnedBy(ownerId);
  }
}
