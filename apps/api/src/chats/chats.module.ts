import { Module } from '@nestjs/common';
import { ChatsController } from './chats.controller';
import { ChatsRepository } from './chats.repository';
import { ChatsService } from './chats.service';
import { IdempotencyRepository } from './idempotency.repository';
import { LlmRegistry } from './llm/llm-registry';
import { MessageRateLimiter } from './message-rate-limiter';
import { MessagesService } from './messages.service';

@Module({
  controllers: [ChatsController],
  providers: [ChatsRepository, ChatsService, IdempotencyRepository, LlmRegistry, MessageRateLimiter, MessagesService],
  exports: [ChatsService],
})
export class ChatsModule {}
