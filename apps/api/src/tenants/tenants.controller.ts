import { Body, Controller, Delete, Get, Headers, HttpCode, HttpStatus, Patch, Post, Query, Res } from '@nestjs/common';
import {
  ApiAcceptedResponse,
  ApiConflictResponse,
  ApiCreatedResponse,
  ApiHeader,
  ApiNotFoundResponse,
  ApiOkResponse,
  ApiTags,
} from '@nestjs/swagger';
import { Authenticated, CurrentCaller, PlatformPermission } from '@lib/auth';
import type { Caller } from '@lib/tenancy';
import type { FastifyReply } from 'fastify';
import { parseIfMatch, setEtag } from '../common/etag';
import { PageQueryParams } from '../common/pagination';
import { UlidParam } from '../common/params';
import { UsageDto, UsageQueryDto } from '../usage/dto/usage.dto';
import {
  CreateTenantDto,
  type ListTenantsQuery,
  TENANT_STATUSES,
  TenantDto,
  TenantPageDto,
  UpdateTenantDto,
} from './dto/tenant.dto';
import { toTenantDto, TenantsService } from './tenants.service';

@ApiTags('tenants')
@Controller('v1/tenants')
export class TenantsController {
  constructor(private readonly tenants: TenantsService) {}

  @Post()
  @Authenticated({ scope: 'platform', permission: PlatformPermission.TenantsWrite })
  @ApiCreatedResponse({ type: TenantDto, description: 'Provisioned and active' })
  @ApiAcceptedResponse({ type: TenantDto, description: 'Still provisioning (or failed); GET shows progress' })
  @ApiConflictResponse({ description: 'Slug taken' })
  async create(@Body() body: CreateTenantDto, @Res({ passthrough: true }) reply: FastifyReply): Promise<TenantDto> {
    const { tenant, finished } = await this.tenants.create(body);
    void reply.status(finished ? HttpStatus.CREATED : HttpStatus.ACCEPTED);
    return tenant;
  }

  @Get()
  @Authenticated({ scope: 'platform', permission: PlatformPermission.TenantsRead })
  @ApiOkResponse({ type: TenantPageDto })
  list(
    @PageQueryParams({ status: TENANT_STATUSES }) query: ListTenantsQuery,
    @CurrentCaller() caller: Caller,
  ): Promise<TenantPageDto> {
    return this.tenants.list(query, caller.id);
  }

  @Get(':tenantId')
  @Authenticated({ scope: 'platform', permission: PlatformPermission.TenantsRead })
  @ApiOkResponse({ type: TenantDto })
  @ApiNotFoundResponse()
  async get(
    @UlidParam('tenantId') tenantId: string,
    @Res({ passthrough: true }) reply: FastifyReply,
  ): Promise<TenantDto> {
    const tenant = await this.tenants.get(tenantId);
    setEtag(reply, tenant.version);
    return toTenantDto(tenant);
  }

  @Patch(':tenantId')
  @Authenticated({ scope: 'platform', permission: PlatformPermission.TenantsWrite })
  @ApiHeader({ name: 'If-Match', required: false, description: 'ETag from a previous read; stale → 412' })
  @ApiOkResponse({ type: TenantDto })
  async update(
    @UlidParam('tenantId') tenantId: string,
    @Body() body: UpdateTenantDto,
    @Headers('if-match') ifMatch: string | undefined,
    @Res({ passthrough: true }) reply: FastifyReply,
  ): Promise<TenantDto> {
    const tenant = await this.tenants.update(tenantId, body, parseIfMatch(ifMatch));
    setEtag(reply, tenant.version);
    return toTenantDto(tenant);
  }

  @Delete(':tenantId')
  @Authenticated({ scope: 'platform', permission: PlatformPermission.TenantsWrite })
  @HttpCode(HttpStatus.ACCEPTED)
  @ApiAcceptedResponse({
    type: TenantDto,
    description: 'Status deleting (then deleted); deleting twice is not an error',
  })
  async delete(@UlidParam('tenantId') tenantId: string): Promise<TenantDto> {
    return toTenantDto(await this.tenants.delete(tenantId));
  }

  @Get(':tenantId/usage')
  @Authenticated({ scope: 'platform', permission: PlatformPermission.TenantsRead })
  @ApiOkResponse({ type: UsageDto })
  usage(@UlidParam('tenantId') tenantId: string, @Query() { month }: UsageQueryDto): Promise<UsageDto> {
    return this.tenants.usage(tenantId, month);
  }
}
