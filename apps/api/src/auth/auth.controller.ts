import { Body, Controller, Get, HttpCode, HttpStatus, Ip, Post } from '@nestjs/common';
import { ApiNoContentResponse, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { Authenticated, Credentials, CurrentCaller, Public, Strategies } from '@lib/auth';
import { ApiProblem } from '@lib/observability';
import type { Caller } from '@lib/tenancy';
import { RefreshDto, TokenPairDto } from '../operators/dto/operator-auth.dto';
import { AuthService } from './auth.service';
import { LoginDto, LogoutDto, MeDto } from './dto/auth.dto';

@ApiTags('auth')
@Controller('v1')
export class AuthController {
  constructor(private readonly auth: AuthService) {}

  @Post('auth/login')
  @Public()
  @ApiOperation({ operationId: 'login' })
  @ApiProblem(403, 'The tenant is suspended')
  @HttpCode(HttpStatus.OK)
  @ApiOkResponse({ type: TokenPairDto })
  @ApiProblem(429, 'Too many failed logins for this account or address (Retry-After)')
  @ApiProblem(401, 'Wrong credentials (the same answer for every reason)')
  login(@Body() body: LoginDto, @Ip() ip: string): Promise<TokenPairDto> {
    return this.auth.login(body.tenant, body.email, body.password, ip);
  }

  @Post('auth/refresh')
  @Public()
  @ApiOperation({ operationId: 'refreshToken' })
  @ApiProblem(403, 'The tenant is suspended')
  @ApiProblem(401, 'Unknown, expired, retired or revoked refresh token')
  @HttpCode(HttpStatus.OK)
  @ApiOkResponse({ type: TokenPairDto })
  refresh(@Body() body: RefreshDto): Promise<TokenPairDto> {
    return this.auth.refresh(body.refreshToken);
  }

  @Post('auth/logout')
  @Authenticated({ scope: 'tenant' })
  @Credentials(Strategies.accessToken)
  @ApiOperation({ operationId: 'logout' })
  @HttpCode(HttpStatus.NO_CONTENT)
  @ApiNoContentResponse()
  logout(@CurrentCaller() caller: Caller, @Body() body: LogoutDto): Promise<void> {
    return this.auth.logout(caller, body.refreshToken);
  }

  @Get('me')
  @Authenticated({ scope: 'tenant' })
  @Credentials(Strategies.accessToken)
  @ApiOperation({ operationId: 'getMe' })
  @ApiOkResponse({ type: MeDto })
  me(@CurrentCaller() caller: Caller): Promise<MeDto> {
    return this.auth.me(caller);
  }
}
