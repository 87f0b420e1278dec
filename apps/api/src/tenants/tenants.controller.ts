import { Body, Controller, Delete, Get, Headers, HttpCode, HttpStatus, Patch, Post, Query, Res } from '@nestjs/common';
import {
  ApiAcceptedResponse,
  ApiCreatedResponse,
  ApiHeader,
  ApiOkResponse,
  ApiOperation,
  ApiProduces,
  ApiResponse,
  ApiTags,
} from '@nestjs/swagger';
import { Authenticated, CurrentCaller, PlatformPermission } from '@lib/auth';
import { ApiProblem } from '@lib/observability';
import type { Caller } from '@lib/tenancy';
import type { FastifyReply } from 'fastify';
import { CREATED_HEADERS, ETAG_HEADER, IF_MATCH_HEADER, parseIfMatch, setCreated, setEtag } from '../common/etag';
import { PageQueryParams } from '../common/pagination';
import { UlidParam } from '../common/params';
import { currentMonth, UsageDto, UsageQueryDto } from '../usage/dto/usage.dto';
import {
  CreateTenantDto,
  type ListTenantsQuery,
  TENANT_STATUSES,
  TenantDto,
  TenantPageDto,
  UpdateTenantDto,
} from './dto/tenant.dto';
import { ExportQueryDto } from './export/export-query.dto';
import { TenantExportService } from './export/tenant-export.service';
import { toTenantDto, TenantsService } from './tenants.service';

@ApiTags('tenants')
@Controller('v1/tenants')
export class TenantsController {
  constructor(
    private readonly tenants: TenantsService,
    private readonly exports: TenantExportService,
  ) {}

  @Post()
  @Authenticated({ scope: 'platform', permission: PlatformPermission.TenantsWrite })
  @ApiCreatedResponse({ type: TenantDto, description: 'Provisioned and active', headers: CREATED_HEADERS })
  @ApiAcceptedResponse({
    type: TenantDto,
    description: 'Still provisioning (or failed); GET shows progress',
    headers: CREATED_HEADERS,
  })
  @ApiProblem(409, 'Slug taken')
  async create(@Body() body: CreateTenantDto, @Res({ passthrough: true }) reply: FastifyReply): Promise<TenantDto> {
    const { tenant, finished } = await this.tenants.create(body);
    // The record as it stands now (provisioning moves it on in the background): its body and ETag agree.
    const current = await this.tenants.get(tenant.id);
    setCreated(reply, `/v1/tenants/${current.id}`, current.version);
    void reply.status(finished ? HttpStatus.CREATED : HttpStatus.ACCEPTED);
    return toTenantDto(current);
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
  @ApiOkResponse({ type: TenantDto, headers: ETAG_HEADER })
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
  @ApiHeader(IF_MATCH_HEADER)
  @ApiOkResponse({ type: TenantDto, headers: ETAG_HEADER })
  @ApiProblem(409, 'A status change from a state other than active or suspended, or a change that kept racing')
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
  @ApiOperation({ operationId: 'getTenantUsage' })
  @ApiOkResponse({ type: UsageDto })
  usage(@UlidParam('tenantId') tenantId: string, @Query() { month }: UsageQueryDto): Promise<UsageDto> {
    return this.tenants.usage(tenantId, month ?? currentMonth());
  }

  @Get(':tenantId/export')
  // The export carries every user's password hash: the permission that changes tenants, not the one that lists them.
  @Authenticated({ scope: 'platform', permission: PlatformPermission.TenantsWrite })
  @ApiOperation({
    operationId: 'exportTenant',
    summary: "Export a tenant's data (gzipped NDJSON: header, one line per item, trailer; docs/export-import.md)",
  })
  @ApiProduces('application/gzip')
  @ApiResponse({
    status: 200,
    description:
      'The export, streamed. An error after the first byte ends the connection: the file then has no trailer, ' +
      'and an import refuses it.',
    content: { 'application/gzip': { schema: { type: 'string', format: 'binary' } } },
  })
  @ApiProblem(409, 'The tenant is active (suspend it, or allowSkew=true), or not in a state to export')
  async export(
    @UlidParam('tenantId') tenantId: string,
    @Query() query: ExportQueryDto,
    @Res() reply: FastifyReply,
  ): Promise<void> {
    const { tenant, consistency } = await this.exports.exportable(tenantId, query.allowSkew === 'true');
    const stamp = new Date().toISOString().replace(/[-:]|\.\d+/g, '');
    await reply
      .header('content-type', 'application/gzip')
      .header('content-disposition', `attachment; filename="${tenant.slug}-${stamp}.ndjson.gz"`)
      .send(this.exports.stream(tenant, consistency));
  }
}
