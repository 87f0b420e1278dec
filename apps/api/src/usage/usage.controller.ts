import { Controller, Get, Query } from '@nestjs/common';
import { ApiOkResponse, ApiTags } from '@nestjs/swagger';
import { Authenticated, Permission } from '@lib/auth';
import { UsageDto, UsageQueryDto } from './dto/usage.dto';
import { UsageService } from './usage.service';

@ApiTags('usage')
@Controller('v1/usage')
export class UsageController {
  constructor(private readonly usageService: UsageService) {}

  /** The tenant's month: tokens, requests, per-user figures and DynamoDB consumed capacity. */
  @Get()
  @Authenticated({ permission: Permission.UsageRead })
  @ApiOkResponse({ type: UsageDto })
  usage(@Query() { month }: UsageQueryDto): Promise<UsageDto> {
    return this.usageService.month(month);
  }
}
