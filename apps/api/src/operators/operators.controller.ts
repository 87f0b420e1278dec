import { Body, Controller, Get, HttpCode, HttpStatus, Ip, Post } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { Authenticated, CurrentCaller, PlatformPermission, Public } from '@lib/auth';
import { ApiProblem } from '@lib/observability';
import type { Caller } from '@lib/tenancy';
import { OperatorDto, OperatorLoginDto, RefreshDto, TokenPairDto } from './dto/operator-auth.dto';
import { OperatorsService } from './operators.service';

@ApiTags('operators')
@Controller('v1/platform')
export class OperatorsController {
  constructor(private readonly operators: OperatorsService) {}

  @Post('auth/login')
  @Public()
  @ApiOperation({ operationId: 'operatorLogin' })
  @HttpCode(HttpStatus.OK)
  @ApiOkResponse({ type: TokenPairDto })
  @ApiProblem(429, 'Too many failed logins (Retry-After)')
  @ApiProblem(401, 'Wrong credentials (the same answer for every reason)')
  login(@Body() body: OperatorLoginDto, @Ip() ip: string): Promise<TokenPairDto> {
    return this.operators.login(body.email, body.password, ip);
  }

  @Post('auth/refresh')
  @Public()
  @ApiOperation({ operationId: 'refreshOperatorToken' })
  @ApiProblem(401, 'Unknown, expired, retired or revoked refresh token')
  @HttpCode(HttpStatus.OK)
  @ApiOkResponse({ type: TokenPairDto })
  refresh(@Body() body: RefreshDto): Promise<TokenPairDto> {
    return this.operators.refresh(body.refreshToken);
  }

  @Get('me')
  @Authenticated({ scope: 'platform', permission: PlatformPermission.OperatorsRead })
  @ApiOperation({ operationId: 'getOperator' })
  @ApiOkResponse({ type: OperatorDto })
  me(@CurrentCaller() caller: Caller): Promise<OperatorDto> {
    return this.operators.me(caller.id);
  }
}
