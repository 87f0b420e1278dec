import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsOptional, IsString, Matches } from 'class-validator';
import { NoControlChars } from '../../common/text';

const MONTH = /^\d{4}-(0[1-9]|1[0-2])$/;

/** The current month (UTC), `YYYY-MM`: what the usage routes read without `month`. */
export function currentMonth(now = new Date()): string {
  return now.toISOString().slice(0, 7);
}

export class UsageQueryDto {
  @ApiPropertyOptional({
    example: '2026-11',
    pattern: MONTH.source,
    maxLength: 7,
    description: 'UTC month; the current month when absent',
  })
  @IsOptional()
  @IsString()
  @NoControlChars()
  @Matches(MONTH, { message: 'month must be YYYY-MM' })
  month?: string;
}

export class DynamoCapacityDto {
  @ApiProperty()
  readCapacityUnits!: number;

  @ApiProperty()
  writeCapacityUnits!: number;
}

export class UserUsageDto {
  @ApiProperty()
  userId!: string;

  @ApiProperty()
  inputTokens!: number;

  @ApiProperty()
  outputTokens!: number;

  @ApiProperty()
  requests!: number;
}

export class UsageDto {
  @ApiProperty({ example: '2026-11' })
  month!: string;

  @ApiProperty()
  inputTokens!: number;

  @ApiProperty()
  outputTokens!: number;

  @ApiProperty()
  requests!: number;

  @ApiProperty({ type: [UserUsageDto], maxItems: 100, description: 'The 100 users with the most tokens this month' })
  byUser!: UserUsageDto[];

  @ApiProperty({ type: DynamoCapacityDto })
  dynamodb!: DynamoCapacityDto;
}
