import { TENANT_STATUSES, type TenantLlmSettings, type TenantSettings, type TenantStatus } from '@lib/dynamo';
import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import {
  IsDefined,
  IsEmail,
  IsObject,
  IsIn,
  IsInt,
  IsOptional,
  IsString,
  IsUrl,
  Matches,
  Max,
  MaxLength,
  Min,
  MinLength,
  ValidateIf,
  ValidateNested,
} from 'class-validator';
import { NoControlChars } from '../../common/text';
import type { PageQuery } from '../../common/pagination';

export const SLUG_PATTERN = /^[a-z0-9](?:[a-z0-9-]{1,38}[a-z0-9])$/;
/** The statuses as declared with the control table (libs/dynamo), for the DTOs and the list's filter. */
export { TENANT_STATUSES };

export class TenantAdminDto {
  @ApiProperty({ example: 'admin@acme.test', format: 'email', maxLength: 254 })
  @IsEmail()
  @NoControlChars()
  @MaxLength(254)
  email!: string;

  @ApiProperty({ example: 'Ada Admin', minLength: 1, maxLength: 100 })
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
}

export class CreateTenantDto {
  @ApiProperty({ example: 'Acme Corp', minLength: 1, maxLength: 100 })
  @IsString()
  @NoControlChars()
  @MinLength(1)
  @MaxLength(100)
  name!: string;

  @ApiProperty({ example: 'acme', pattern: SLUG_PATTERN.source })
  @IsString()
  @NoControlChars()
  @Matches(SLUG_PATTERN, { message: 'slug must be 3-40 lowercase letters, digits or inner hyphens' })
  slug!: string;

  @ApiProperty({ type: TenantAdminDto })
  @IsDefined()
  @IsObject()
  @ValidateNested()
  @Type(() => TenantAdminDto)
  admin!: TenantAdminDto;
}

export class TenantLlmSettingsDto implements TenantLlmSettings {
  @ApiPropertyOptional({ enum: ['echo', 'openai'] })
  @IsOptional()
  @IsIn(['echo', 'openai'])
  provider?: 'echo' | 'openai';

  @ApiPropertyOptional({ example: 'https://api.openai.com/v1' })
  @IsOptional()
  @IsUrl({ require_tld: false, protocols: ['http', 'https'], require_protocol: true })
  @NoControlChars()
  @MaxLength(500)
  baseUrl?: string;

  @ApiPropertyOptional({ example: 'gpt-4o-mini' })
  @IsOptional()
  @IsString()
  @NoControlChars()
  @MinLength(1)
  @MaxLength(200)
  model?: string;

  @ApiPropertyOptional({ writeOnly: true, description: 'Stored, never returned' })
  @IsOptional()
  @IsString()
  @NoControlChars()
  @MinLength(1)
  @MaxLength(500)
  apiKey?: string;
}

/** Each field present replaces the stored one (`llm` field by field). */
export class TenantSettingsInputDto implements Partial<TenantSettings> {
  @ApiPropertyOptional({ type: Number, nullable: true, minimum: 0, description: 'Tokens per month; null = unlimited' })
  @IsOptional()
  @ValidateIf((_o, v) => v !== null)
  @IsInt()
  @Min(0)
  @Max(1_000_000_000_000)
  monthlyTokenQuota?: number | null;

  @ApiPropertyOptional({
    type: Number,
    nullable: true,
    minimum: 0,
    description: 'Tokens per user per month; null = no per-user quota',
  })
  @IsOptional()
  @ValidateIf((_o, v) => v !== null)
  @IsInt()
  @Min(0)
  @Max(1_000_000_000_000)
  userMonthlyTokenQuota?: number | null;

  @ApiPropertyOptional({ type: Number, nullable: true, minimum: 1, maximum: 3650, description: 'null = keep forever' })
  @IsOptional()
  @ValidateIf((_o, v) => v !== null)
  @IsInt()
  @Min(1)
  @Max(3650)
  retentionDays?: number | null;

  @ApiPropertyOptional({ type: TenantLlmSettingsDto })
  @IsOptional()
  @IsObject()
  @ValidateNested()
  @Type(() => TenantLlmSettingsDto)
  llm?: TenantLlmSettingsDto;
}

export class UpdateTenantDto {
  @ApiPropertyOptional({ minLength: 1, maxLength: 100 })
  @IsOptional()
  @IsString()
  @NoControlChars()
  @MinLength(1)
  @MaxLength(100)
  name?: string;

  @ApiPropertyOptional({ enum: ['active', 'suspended'] })
  @IsOptional()
  @IsIn(['active', 'suspended'])
  status?: 'active' | 'suspended';

  @ApiPropertyOptional({ type: TenantSettingsInputDto })
  @IsOptional()
  @IsObject()
  @ValidateNested()
  @Type(() => TenantSettingsInputDto)
  settings?: TenantSettingsInputDto;
}

export class TenantLlmSettingsViewDto {
  @ApiPropertyOptional({ enum: ['echo', 'openai'] })
  provider?: 'echo' | 'openai';

  @ApiPropertyOptional()
  baseUrl?: string;

  @ApiPropertyOptional()
  model?: string;

  @ApiProperty({ description: 'Whether an API key is stored (the key itself is never returned)' })
  apiKeySet!: boolean;
}

export class TenantSettingsDto {
  @ApiProperty({ type: Number, nullable: true })
  monthlyTokenQuota!: number | null;

  @ApiPropertyOptional({ type: Number, nullable: true })
  userMonthlyTokenQuota?: number | null;

  @ApiProperty({ type: Number, nullable: true })
  retentionDays!: number | null;

  @ApiPropertyOptional({ type: TenantLlmSettingsViewDto })
  llm?: TenantLlmSettingsViewDto;
}

export class TenantDto {
  @ApiProperty({ example: '01J9Z8Q3M5XK6B2N4P7R8S9T0V' })
  id!: string;

  @ApiProperty({ example: 'acme' })
  slug!: string;

  @ApiProperty({ example: 'Acme Corp' })
  name!: string;

  @ApiProperty({ enum: TENANT_STATUSES })
  status!: TenantStatus;

  @ApiProperty({ description: "The tenant's DynamoDB table (operators only)" })
  tableName!: string;

  @ApiProperty()
  schemaVersion!: number;

  @ApiProperty({ type: TenantSettingsDto })
  settings!: TenantSettingsDto;

  @ApiPropertyOptional({ description: 'Why provisioning failed (status failed only)' })
  failureReason?: string;

  @ApiProperty({ format: 'date-time' })
  createdAt!: string;

  @ApiProperty({ format: 'date-time' })
  updatedAt!: string;
}

export class TenantPageDto {
  @ApiProperty({ type: [TenantDto], maxItems: 100 })
  items!: TenantDto[];

  @ApiProperty({ type: String, nullable: true })
  nextCursor!: string | null;
}

/** `GET /v1/tenants`: a page, optionally of one status. */
export type ListTenantsQuery = PageQuery<{ status: TenantStatus }>;
