import { Body, Controller, Get, HttpCode, HttpStatus, Ip, Post } from '@nestjs/common';
import { ApiNoContentResponse, ApiOkResponse, ApiTags, ApiTooManyRequestsResponse } from '@nestjs/swagger';
import { Authenticated, CurrentCaller, Public } from '@lib/auth';
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
  @HttpCode(HttpStatus.OK)
  @ApiOkResponse({ type: TokenPairDto })
  @ApiTooManyRequestsResponse({ description: 'Too many failed logins for this account or address' })
  login(@Body() body: LoginDto, @Ip() ip: string): Promise<TokenPairDto> {
    return this.auth.login(body.tenant, body.email, body.password, ip);
  }

  @Post('auth/refresh')
  @Public()
  @HttpCode(HttpStatus.OK)
  @ApiOkResponse({ type: TokenPairDto })
  refresh(@Body() body: RefreshDto): Promise<TokenPairDto> {
    return this.auth.refresh(body.refreshToken);
  }

  @Post('auth/logout')
  @Authenticated({ scope: 'tenant' })
  @HttpCode(HttpStatus.NO_CONTENT)
  @ApiNoContentResponse()
  logout(@CurrentCaller() caller: Caller, @Body() body: LogoutDto): Promise<void> {
    return this.auth.logout(caller, body.refreshToken);
  }

  @Get('me')
  @Authenticated({ scope: 'tenant' })
  @ApiOkResponse({ type: MeDto })
  me(@CurrentCaller() caller: Caller): Promise<MeDto> {
    return this.auth.me(caller);
  }
}
