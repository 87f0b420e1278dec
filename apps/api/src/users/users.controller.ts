import { Body, Controller, Delete, Get, Headers, HttpCode, HttpStatus, Patch, Post, Res } from '@nestjs/common';
import {
  ApiCreatedResponse,
  ApiHeader,
  ApiNoContentResponse,
  ApiOkResponse,
  ApiOperation,
  ApiTags,
} from '@nestjs/swagger';
import { Authenticated, CurrentCaller, Permission } from '@lib/auth';
import { ApiProblem } from '@lib/observability';
import type { Caller } from '@lib/tenancy';
import type { FastifyReply } from 'fastify';
import { CREATED_HEADERS, ETAG_HEADER, IF_MATCH_HEADER, parseIfMatch, setCreated, setEtag } from '../common/etag';
import { type PageQuery, PageQueryParams } from '../common/pagination';
import { UlidParam } from '../common/params';
import { PasswordResetTokenDto } from './dto/password-reset.dto';
import { CreateUserDto, UpdateUserDto, UserDto, UserPageDto } from './dto/user.dto';
import { PasswordResetService } from './password-reset.service';
import { toUserDto, UsersService } from './users.service';

@ApiTags('users')
@Controller('v1/users')
export class UsersController {
  constructor(
    private readonly users: UsersService,
    private readonly resets: PasswordResetService,
  ) {}

  @Get()
  @Authenticated({ permission: Permission.UsersRead })
  @ApiOkResponse({ type: UserPageDto })
  list(@CurrentCaller() caller: Caller, @PageQueryParams() query: PageQuery): Promise<UserPageDto> {
    return this.users.list(caller, query);
  }

  @Post()
  @Authenticated({ permission: Permission.UsersWrite })
  @ApiCreatedResponse({ type: UserDto, headers: CREATED_HEADERS })
  @ApiProblem(409, 'Email taken in this tenant')
  async create(
    @CurrentCaller() caller: Caller,
    @Body() body: CreateUserDto,
    @Res({ passthrough: true }) reply: FastifyReply,
  ): Promise<UserDto> {
    const user = await this.users.create(caller, body);
    setCreated(reply, `/v1/users/${user.id}`, user.version);
    return toUserDto(user);
  }

  @Get(':userId')
  @Authenticated({ permission: Permission.UsersRead })
  @ApiOkResponse({ type: UserDto, headers: ETAG_HEADER })
  async get(@UlidParam('userId') userId: string, @Res({ passthrough: true }) reply: FastifyReply): Promise<UserDto> {
    const user = await this.users.get(userId);
    setEtag(reply, user.version);
    return toUserDto(user);
  }

  @Patch(':userId')
  @Authenticated({ permission: Permission.UsersWrite })
  @ApiHeader(IF_MATCH_HEADER)
  @ApiOkResponse({ type: UserDto, headers: ETAG_HEADER })
  @ApiProblem(409, 'Email taken, the last enabled owner, or a change that kept racing')
  async update(
    @CurrentCaller() caller: Caller,
    @UlidParam('userId') userId: string,
    @Body() body: UpdateUserDto,
    @Headers('if-match') ifMatch: string | undefined,
    @Res({ passthrough: true }) reply: FastifyReply,
  ): Promise<UserDto> {
    const user = await this.users.update(caller, userId, body, parseIfMatch(ifMatch));
    setEtag(reply, user.version);
    return toUserDto(user);
  }

  @Delete(':userId')
  @Authenticated({ permission: Permission.UsersWrite })
  @HttpCode(HttpStatus.NO_CONTENT)
  @ApiNoContentResponse()
  @ApiProblem(409, 'The last enabled owner, or a change that kept racing')
  delete(@CurrentCaller() caller: Caller, @UlidParam('userId') userId: string): Promise<void> {
    return this.users.delete(caller, userId);
  }

  @Post(':userId/password-reset')
  @Authenticated({ permission: Permission.UsersWrite })
  @ApiOperation({
    operationId: 'issuePasswordReset',
    summary: 'Issue a single-use password reset token for the user (valid 30 minutes; shown once)',
  })
  @HttpCode(HttpStatus.OK)
  @ApiOkResponse({ type: PasswordResetTokenDto })
  issuePasswordReset(
    @CurrentCaller() caller: Caller,
    @UlidParam('userId') userId: string,
  ): Promise<PasswordResetTokenDto> {
    return this.resets.issue(caller, userId);
  }
}
