import { Controller, Get, Query } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { Authenticated, Permission } from '@lib/auth';
import { currentMonth, UsageDto, UsageQueryDto } from './dto/usage.dto';
import { UsageService } from './usage.service';

@ApiTags('usage')
@Controller('v1/usage')
export class UsageController {
  constructor(private readonly usageService: UsageService) {}

  /** The tenant's month (the current one without `month`): tokens, requests, per-user figures, DynamoDB capacity. */
  @Get()
  @Authenticated({ permission: Permission.UsageRead })
  @ApiOperation({ operationId: 'getUsage' })
  @ApiOkResponse({ type: UsageDto })
  usage(@Query() { month }: UsageQueryDto): Promise<UsageDto> {
    return this.usageService.month(month ?? currentMonth());
  }
}
