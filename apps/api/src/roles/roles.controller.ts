import { Body, Controller, Delete, Get, Headers, HttpCode, HttpStatus, Patch, Post, Res } from '@nestjs/common';
import {
  ApiCreatedResponse,
  ApiExtraModels,
  ApiHeader,
  ApiNoContentResponse,
  ApiOkResponse,
  ApiOperation,
  ApiTags,
  getSchemaPath,
} from '@nestjs/swagger';
import { Authenticated, CurrentCaller, Permission } from '@lib/auth';
import { ApiProblem } from '@lib/observability';
import type { Caller } from '@lib/tenancy';
import type { FastifyReply } from 'fastify';
import { CREATED_HEADERS, ETAG_HEADER, IF_MATCH_HEADER, parseIfMatch, setCreated, setEtag } from '../common/etag';
import { UlidParam } from '../common/params';
import { CreateRoleDto, PermissionDto, RoleDto, RoleListDto, UpdateRoleDto } from './dto/role.dto';
import { RolesService, toRoleDto } from './roles.service';

@ApiTags('roles')
@Controller('v1')
export class RolesController {
  constructor(private readonly roles: RolesService) {}

  @Get('permissions')
  @Authenticated({ permission: Permission.RolesRead })
  @ApiOperation({ operationId: 'listPermissions' })
  @ApiExtraModels(PermissionDto)
  @ApiOkResponse({ schema: { type: 'array', maxItems: 100, items: { $ref: getSchemaPath(PermissionDto) } } })
  permissions(): PermissionDto[] {
    return this.roles.permissions();
  }

  @Get('roles')
  @Authenticated({ permission: Permission.RolesRead })
  @ApiOkResponse({ type: RoleListDto })
  async list(): Promise<RoleListDto> {
    return { items: await this.roles.list() };
  }

  @Post('roles')
  @Authenticated({ permission: Permission.RolesWrite })
  @ApiCreatedResponse({ type: RoleDto, headers: CREATED_HEADERS })
  @ApiProblem(409, 'Name taken, or the tenant already has 100 roles')
  async create(
    @CurrentCaller() caller: Caller,
    @Body() body: CreateRoleDto,
    @Res({ passthrough: true }) reply: FastifyReply,
  ): Promise<RoleDto> {
    const role = await this.roles.create(caller, body);
    setCreated(reply, `/v1/roles/${role.id}`, role.version);
    return toRoleDto(role);
  }

  @Get('roles/:roleId')
  @Authenticated({ permission: Permission.RolesRead })
  @ApiOkResponse({ type: RoleDto, headers: ETAG_HEADER })
  async get(@UlidParam('roleId') roleId: string, @Res({ passthrough: true }) reply: FastifyReply): Promise<RoleDto> {
    const role = await this.roles.get(roleId);
    setEtag(reply, role.version);
    return toRoleDto(role);
  }

  @Patch('roles/:roleId')
  @Authenticated({ permission: Permission.RolesWrite })
  @ApiHeader(IF_MATCH_HEADER)
  @ApiOkResponse({ type: RoleDto, headers: ETAG_HEADER })
  @ApiProblem(409, 'Name taken, or a change that kept racing')
  async update(
    @CurrentCaller() caller: Caller,
    @UlidParam('roleId') roleId: string,
    @Body() body: UpdateRoleDto,
    @Headers('if-match') ifMatch: string | undefined,
    @Res({ passthrough: true }) reply: FastifyReply,
  ): Promise<RoleDto> {
    const role = await this.roles.update(caller, roleId, body, parseIfMatch(ifMatch));
    setEtag(reply, role.version);
    return toRoleDto(role);
  }

  @Delete('roles/:roleId')
  @Authenticated({ permission: Permission.RolesWrite })
  @HttpCode(HttpStatus.NO_CONTENT)
  @ApiNoContentResponse()
  @ApiProblem(409, 'The role is still assigned to a user')
  delete(@CurrentCaller() caller: Caller, @UlidParam('roleId') roleId: string): Promise<void> {
    return this.roles.delete(caller, roleId);
  }
}
