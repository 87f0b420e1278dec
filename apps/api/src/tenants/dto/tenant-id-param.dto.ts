import { ApiProperty } from '@nestjs/swagger';
import { Matches } from 'class-validator';

import { ULID_PATTERN } from '@lib/observability';

export { ULID_PATTERN };

export class TenantIdParamDto {
  @ApiProperty({ example: '01J9Z8Q3M5XK6B2N4P7R8S9T0V', pattern: ULID_PATTERN.source })
  @Matches(ULID_PATTERN, { message: 'tenantId must be a ULID' })
  tenantId!: string;
}
