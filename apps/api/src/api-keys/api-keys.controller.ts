import { Body, Controller, Delete, Get, HttpCode, HttpStatus, Post } from '@nestjs/common';
import { ApiCreatedResponse, ApiNoContentResponse, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { Authenticated, Credentials, CurrentCaller, Permission, Strategies } from '@lib/auth';
import { ApiProblem } from '@lib/observability';
import type { Caller } from '@lib/tenancy';
import { UlidParam } from '../common/params';
import { ApiKeysService } from './api-keys.service';
import { ApiKeyListDto, CreateApiKeyDto, CreatedApiKeyDto } from './dto/api-key.dto';

/** Managed by signed-in users only: an API key never manages keys (docs/api-keys.md). */
@ApiTags('api-keys')
@Controller('v1/api-keys')
@Credentials(Strategies.accessToken)
export class ApiKeysController {
  constructor(private readonly keys: ApiKeysService) {}

  @Post()
  @Authenticated({ permission: Permission.ApiKeysManage })
  @ApiOperation({ operationId: 'createApiKey' })
  @ApiCreatedResponse({ type: CreatedApiKeyDto })
  @ApiProblem(409, 'The tenant already holds the maximum number of API keys')
  create(@CurrentCaller() caller: Caller, @Body() body: CreateApiKeyDto): Promise<CreatedApiKeyDto> {
    return this.keys.create(caller, body);
  }

  @Get()
  @Authenticated({ permission: Permission.ApiKeysManage })
  @ApiOperation({ operationId: 'listApiKeys' })
  @ApiOkResponse({ type: ApiKeyListDto })
  async list(): Promise<ApiKeyListDto> {
    return { items: await this.keys.list() };
  }

  @Delete(':keyId')
  @Authenticated({ permission: Permission.ApiKeysManage })
  @ApiOperation({ operationId: 'revokeApiKey' })
  @HttpCode(HttpStatus.NO_CONTENT)
  @ApiNoContentResponse()
  @ApiProblem(404, 'No such API key')
  revoke(@UlidParam('keyId') keyId: string): Promise<void> {
    return this.keys.revoke(keyId);
  }
}
