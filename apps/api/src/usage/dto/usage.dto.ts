import { ApiProperty } from '@nestjs/swagger';
import { IsString, Matches } from 'class-validator';
import { NoControlChars } from '../../common/text';

export class UsageQueryDto {
  @ApiProperty({ example: '2026-11', pattern: '^\\d{4}-(0[1-9]|1[0-2])$' })
  @IsString()
  @NoControlChars()
  @Matches(/^\d{4}-(0[1-9]|1[0-2])$/, { message: 'month must be YYYY-MM' })
  month!: string;
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
