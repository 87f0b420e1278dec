import { Controller, Get, Query } from '@nestjs/common';
import { ApiOkResponse, ApiTags } from '@nestjs/swagger';
import { Authenticated, Permission } from '@lib/auth';
import { DynamoClients } from '@lib/dynamo';
import { RequestContext } from '@lib/tenancy';
import { UsageDto, UsageQueryDto } from '../tenants/dto/tenant.dto';
import { readUsage } from './usage.reader';

@ApiTags('usage')
@Controller('v1/usage')
export class UsageController {
  constructor(private readonly clients: DynamoClients) {}

  /** The tenant's month: tokens, requests, per-user figures and DynamoDB consumed capacity. */
  @Get()
  @Authenticated({ permission: Permission.UsageRead })
  @ApiOkResponse({ type: UsageDto })
  usage(@Query() { month }: UsageQueryDto): Promise<UsageDto> {
    return readUsage(this.clients.doc, RequestContext.tenant().tableName, month);
  }
}
