import { Body, Controller, Get, HttpCode, HttpStatus, Ip, Post } from '@nestjs/common';
import { ApiOkResponse, ApiTags, ApiTooManyRequestsResponse } from '@nestjs/swagger';
import { Authenticated, CurrentCaller, PlatformPermission, Public } from '@lib/auth';
import type { Caller } from '@lib/tenancy';
import { OperatorDto, OperatorLoginDto, RefreshDto, TokenPairDto } from './dto/operator-auth.dto';
import { OperatorsService } from './operators.service';

@ApiTags('operators')
@Controller('v1/platform')
export class OperatorsController {
  constructor(private readonly operators: OperatorsService) {}

  @Post('auth/login')
  @Public()
  @HttpCode(HttpStatus.OK)
  @ApiOkResponse({ type: TokenPairDto })
  @ApiTooManyRequestsResponse({ description: 'Too many failed logins' })
  login(@Body() body: OperatorLoginDto, @Ip() ip: string): Promise<TokenPairDto> {
    return this.operators.login(body.email, body.password, ip);
  }

  @Post('auth/refresh')
  @Public()
  @HttpCode(HttpStatus.OK)
  @ApiOkResponse({ type: TokenPairDto })
  refresh(@Body() body: RefreshDto): Promise<TokenPairDto> {
    return this.operators.refresh(body.refreshToken);
  }

  @Get('me')
  @Authenticated({ scope: 'platform', permission: PlatformPermission.OperatorsRead })
  @ApiOkResponse({ type: OperatorDto })
  me(@CurrentCaller() caller: Caller): Promise<OperatorDto> {
    return this.operators.me(caller.id);
  }
}
