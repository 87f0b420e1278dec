import { Body, Controller, HttpCode, HttpStatus, Ip, Post } from '@nestjs/common';
import { ApiNoContentResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { Public } from '@lib/auth';
import { ApiProblem } from '@lib/observability';
import { RedeemPasswordResetDto } from '../users/dto/password-reset.dto';
import { PasswordResetService } from '../users/password-reset.service';
import { LoginThrottle } from './login-throttle';

@ApiTags('auth')
@Controller('v1/auth')
export class PasswordResetController {
  constructor(
    private readonly resets: PasswordResetService,
    private readonly throttle: LoginThrottle,
  ) {}

  /**
   * Throttled like login (per token's user and per address, each attempt counted before the token is checked):
   * guessing tokens is as slow as guessing passwords.
   */
  @Post('password-reset')
  @Public()
  @ApiOperation({
    operationId: 'redeemPasswordReset',
    summary: 'Set a new password with a reset token from a tenant admin; every session of the user is revoked',
  })
  @HttpCode(HttpStatus.NO_CONTENT)
  @ApiNoContentResponse()
  @ApiProblem(401, 'Unknown, used, expired or forged token, or a disabled or deleted user (the same answer)')
  @ApiProblem(429, 'Too many attempts for this token or address (Retry-After)')
  async redeem(@Body() body: RedeemPasswordResetDto, @Ip() ip: string): Promise<void> {
    const permit = await this.throttle.reserve(PasswordResetService.throttleAccount(body.token), ip);
    await this.resets.redeem(body.token, body.newPassword);
    await this.throttle.succeeded(permit);
  }
}
