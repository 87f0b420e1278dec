import { Module } from '@nestjs/common';
import { ChatsController } from './chats.controller';
import { ChatsRepository } from './chats.repository';
import { ChatsService } from './chats.service';
import { GenerationRepository } from './generation.repository';
import { GenerationService } from './generation.service';
import { IdempotencyRepository } from './idempotency.repository';
import { IdempotencyService } from './idempotency.service';
import { LlmRegistry } from './llm/llm-registry';
import { MessageRateLimiter } from './message-rate-limiter';
import { MessagesService } from './messages.service';
import { ReplyStreams } from './reply-streams';

@Module({
  controllers: [ChatsController],
  providers: [
    ChatsRepository,
    ChatsService,
    GenerationRepository,
    GenerationService,
    IdempotencyRepository,
    IdempotencyService,
    LlmRegistry,
    MessageRateLimiter,
    MessagesService,
    ReplyStreams,
  ],
  exports: [ChatsService],
})
export class ChatsModule {}
