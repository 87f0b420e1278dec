import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import {
  ArrayMaxSize,
  ArrayUnique,
  IsArray,
  IsBoolean,
  IsEmail,
  IsOptional,
  IsString,
  Matches,
  MaxLength,
  MinLength,
} from 'class-validator';
import { NoControlChars } from '../../common/text';
import { ULID_PATTERN } from '@lib/observability';

export const MAX_ROLES_PER_USER = 10;

export class CreateUserDto {
  @ApiProperty({ example: 'ada@acme.test', format: 'email', maxLength: 254 })
  @IsEmail()
  @NoControlChars()
  @MaxLength(254)
  email!: string;

  @ApiProperty({ minLength: 1, maxLength: 100 })
  @IsString()
  @NoControlChars()
  @MinLength(1)
  @MaxLength(100)
  name!: string;

  @ApiProperty({ minLength: 12, maxLength: 256, writeOnly: true })
  @IsString()
  @NoControlChars()
  @MinLength(12)
  @MaxLength(256)
  password!: string;

  @ApiProperty({ type: [String], maxItems: MAX_ROLES_PER_USER })
  @IsArray()
  @ArrayUnique()
  @ArrayMaxSize(MAX_ROLES_PER_USER)
  @Matches(ULID_PATTERN, { each: true, message: 'each role id must be a ULID' })
  roleIds!: string[];
}

export class UpdateUserDto {
  @ApiPropertyOptional({ minLength: 1, maxLength: 100 })
  @IsOptional()
  @IsString()
  @NoControlChars()
  @MinLength(1)
  @MaxLength(100)
  name?: string;

  @ApiPropertyOptional({ type: [String], maxItems: MAX_ROLES_PER_USER })
  @IsOptional()
  @IsArray()
  @ArrayUnique()
  @ArrayMaxSize(MAX_ROLES_PER_USER)
  @Matches(ULID_PATTERN, { each: true, message: 'each role id must be a ULID' })
  roleIds?: string[];

  @ApiPropertyOptional()
  @IsOptional()
  @IsBoolean()
  disabled?: boolean;
}

export class UserDto {
  @ApiProperty()
  id!: string;

  @ApiProperty()
  email!: string;

  @ApiProperty()
  name!: string;

  @ApiProperty({ type: [String], maxItems: 10 })
  roleIds!: string[];

  @ApiProperty()
  disabled!: boolean;

  @ApiProperty({ format: 'date-time' })
  createdAt!: string;

  @ApiProperty({ format: 'date-time' })
  updatedAt!: string;
}

export class UserPageDto {
  @ApiProperty({ type: [UserDto], maxItems: 100 })
  items!: UserDto[];

  @ApiProperty({ type: String, nullable: true })
  nextCursor!: string | null;
}
