import { Body, Controller, Delete, Get, Headers, HttpCode, HttpStatus, Patch, Post, Res } from '@nestjs/common';
import {
  ApiConflictResponse,
  ApiCreatedResponse,
  ApiHeader,
  ApiNoContentResponse,
  ApiOkResponse,
  ApiTags,
} from '@nestjs/swagger';
import { Authenticated, CurrentCaller, Permission } from '@lib/auth';
import type { Caller } from '@lib/tenancy';
import type { FastifyReply } from 'fastify';
import { parseIfMatch, setEtag } from '../common/etag';
import { type PageQuery, PageQueryParams } from '../common/pagination';
import { UlidParam } from '../common/params';
import { CreateUserDto, UpdateUserDto, UserDto, UserPageDto } from './dto/user.dto';
import { toUserDto, UsersService } from './users.service';

@ApiTags('users')
@Controller('v1/users')
export class UsersController {
  constructor(private readonly users: UsersService) {}

  @Get()
  @Authenticated({ permission: Permission.UsersRead })
  @ApiOkResponse({ type: UserPageDto })
  list(@CurrentCaller() caller: Caller, @PageQueryParams() query: PageQuery): Promise<UserPageDto> {
    return this.users.list(caller, query);
  }

  @Post()
  @Authenticated({ permission: Permission.UsersWrite })
  @ApiCreatedResponse({ type: UserDto })
  @ApiConflictResponse({ description: 'Email taken in this tenant' })
  async create(
    @CurrentCaller() caller: Caller,
    @Body() body: CreateUserDto,
    @Res({ passthrough: true }) reply: FastifyReply,
  ): Promise<UserDto> {
    const user = await this.users.create(caller, body);
    setEtag(reply, user.version);
    return toUserDto(user);
  }

  @Get(':userId')
  @Authenticated({ permission: Permission.UsersRead })
  @ApiOkResponse({ type: UserDto })
  async get(@UlidParam('userId') userId: string, @Res({ passthrough: true }) reply: FastifyReply): Promise<UserDto> {
    const user = await this.users.get(userId);
    setEtag(reply, user.version);
    return toUserDto(user);
  }

  @Patch(':userId')
  @Authenticated({ permission: Permission.UsersWrite })
  @ApiHeader({ name: 'If-Match', required: false, description: 'ETag from a previous read; stale → 412' })
  @ApiOkResponse({ type: UserDto })
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
  delete(@CurrentCaller() caller: Caller, @UlidParam('userId') userId: string): Promise<void> {
    return this.users.delete(caller, userId);
  }
}
