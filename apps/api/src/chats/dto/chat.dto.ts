import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsOptional, IsString, MaxLength, MinLength } from 'class-validator';
import { NoControlChars } from '../../common/text';

export const MAX_CONTENT_CHARS = 32_000;

export class CreateChatDto {
  @ApiPropertyOptional({ maxLength: 200 })
  @IsOptional()
  @IsString()
  @NoControlChars()
  @MaxLength(200)
  title?: string;

  @ApiPropertyOptional({ maxLength: 8000 })
  @IsOptional()
  @IsString()
  @NoControlChars({ multiline: true })
  @MaxLength(8000)
  systemPrompt?: string;

  @ApiPropertyOptional({ maxLength: 200, description: "Model name; default: the tenant's or the deployment's" })
  @IsOptional()
  @IsString()
  @NoControlChars()
  @MinLength(1)
  @MaxLength(200)
  model?: string;
}

export class UpdateChatDto {
  @ApiPropertyOptional({ maxLength: 200 })
  @IsOptional()
  @IsString()
  @NoControlChars()
  @MaxLength(200)
  title?: string;

  @ApiPropertyOptional({ maxLength: 8000 })
  @IsOptional()
  @IsString()
  @NoControlChars({ multiline: true })
  @MaxLength(8000)
  systemPrompt?: string;
}

/** Message content: 1..32 000 characters (more → 413, checked in the service). */
export class PostMessageDto {
  @ApiProperty({ minLength: 1, maxLength: MAX_CONTENT_CHARS })
  @IsString()
  @NoControlChars({ multiline: true })
  @MinLength(1)
  content!: string;
}

export class ChatDto {
  @ApiProperty()
  id!: string;

  @ApiProperty()
  title!: string;

  @ApiProperty()
  systemPrompt!: string;

  @ApiProperty()
  model!: string;

  @ApiProperty({ format: 'date-time' })
  createdAt!: string;

  @ApiProperty({ format: 'date-time' })
  updatedAt!: string;

  @ApiProperty()
  messageCount!: number;
}

export class ChatPageDto {
  @ApiProperty({ type: [ChatDto], maxItems: 100 })
  items!: ChatDto[];

  @ApiProperty({ type: String, nullable: true })
  nextCursor!: string | null;
}

export class UsageCountsDto {
  @ApiProperty()
  inputTokens!: number;

  @ApiProperty()
  outputTokens!: number;
}

export class MessageDto {
  @ApiProperty()
  id!: string;

  @ApiProperty()
  chatId!: string;

  @ApiProperty({ enum: ['user', 'assistant', 'system'] })
  role!: 'user' | 'assistant' | 'system';

  @ApiProperty()
  content!: string;

  @ApiProperty({
    enum: ['generating', 'complete', 'incomplete', 'failed'],
    description: 'generating while the reply is produced; then complete, incomplete (cancelled or stopped) or failed',
  })
  status!: 'generating' | 'complete' | 'incomplete' | 'failed';

  @ApiPropertyOptional()
  model?: string;

  @ApiPropertyOptional({ type: UsageCountsDto })
  usage?: UsageCountsDto;

  @ApiProperty({ format: 'date-time' })
  createdAt!: string;
}

export class MessagePageDto {
  @ApiProperty({ type: [MessageDto], maxItems: 100 })
  items!: MessageDto[];

  @ApiProperty({ type: String, nullable: true })
  nextCursor!: string | null;
}

export class ExchangeDto {
  @ApiProperty({ type: MessageDto })
  userMessage!: MessageDto;

  @ApiProperty({ type: MessageDto })
  assistantMessage!: MessageDto;
}

export class StreamTokenDto {
  @ApiProperty({
    description: "For a browser's EventSource: `GET …/events?token=<token>` of this reply only, read-only",
  })
  token!: string;

  @ApiProperty({ format: 'date-time', description: 'The token is refused from then on (60 seconds after issue)' })
  expiresAt!: string;
}
