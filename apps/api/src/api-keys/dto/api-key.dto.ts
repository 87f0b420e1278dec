import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import {
  ArrayMaxSize,
  ArrayUnique,
  IsArray,
  IsISO8601,
  IsOptional,
  IsString,
  Matches,
  MaxLength,
  MinLength,
} from 'class-validator';
import { ULID_PATTERN } from '@lib/observability';
import { NoControlChars } from '../../common/text';
import { MAX_ROLES_PER_USER } from '../../users/dto/user.dto';

/** Keys a tenant may hold at once (listed in one page). */
export const MAX_API_KEYS_PER_TENANT = 100;

export class CreateApiKeyDto {
  @ApiProperty({ minLength: 1, maxLength: 100, example: 'nightly export' })
  @IsString()
  @NoControlChars()
  @MinLength(1)
  @MaxLength(100)
  name!: string;

  @ApiProperty({
    type: [String],
    maxItems: MAX_ROLES_PER_USER,
    description: 'Roles of the key; you must hold every permission they grant',
  })
  @IsArray()
  @ArrayUnique()
  @ArrayMaxSize(MAX_ROLES_PER_USER)
  @Matches(ULID_PATTERN, { each: true, message: 'each role id must be a ULID' })
  roleIds!: string[];

  @ApiPropertyOptional({ format: 'date-time', description: 'When the key stops working (in the future); none: never' })
  @IsOptional()
  @IsISO8601({ strict: true }, { message: 'expiresAt must be an ISO 8601 date-time' })
  expiresAt?: string;
}

export class ApiKeyDto {
  @ApiProperty()
  id!: string;

  @ApiProperty()
  name!: string;

  @ApiProperty({
    description: 'The start of the key, to recognise it (never the secret)',
    example: 'cpk_01J…_01J…_x7Qa',
  })
  prefix!: string;

  @ApiProperty({ type: [String], maxItems: MAX_ROLES_PER_USER })
  roleIds!: string[];

  @ApiProperty({ description: 'The user who created the key; the key never holds more than they do now' })
  createdBy!: string;

  @ApiProperty({ format: 'date-time' })
  createdAt!: string;

  @ApiPropertyOptional({ format: 'date-time' })
  expiresAt?: string;

  @ApiPropertyOptional({ format: 'date-time', description: 'Recorded at most every 5 minutes per key' })
  lastUsedAt?: string;
}

export class CreatedApiKeyDto extends ApiKeyDto {
  @ApiProperty({
    description: 'The key, shown this once: send it as `Authorization: Bearer <key>`. Only its hash is stored.',
    example: 'cpk_01J…_01J…_x7Qa…',
  })
  key!: string;
}

export class ApiKeyListDto {
  @ApiProperty({ type: [ApiKeyDto], maxItems: MAX_API_KEYS_PER_TENANT })
  items!: ApiKeyDto[];
}
