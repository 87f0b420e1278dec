import { ApiProperty } from '@nestjs/swagger';
import { IsString, MaxLength, MinLength } from 'class-validator';
import { NoControlChars } from '../../common/text';

/** A reset token as issued to the admin, shown once: only its hash is stored. */
export class PasswordResetTokenDto {
  @ApiProperty({
    description:
      'Single-use token for POST /v1/auth/password-reset; the admin hands it to the user (no e-mail is sent)',
  })
  token!: string;

  @ApiProperty({ format: 'date-time', description: 'The token is refused from then on (30 minutes after issue)' })
  expiresAt!: string;
}

export class RedeemPasswordResetDto {
  @ApiProperty({ writeOnly: true, maxLength: 200 })
  @IsString()
  @MaxLength(200)
  token!: string;

  @ApiProperty({ minLength: 12, maxLength: 256, writeOnly: true })
  @IsString()
  @NoControlChars()
  @MinLength(12)
  @MaxLength(256)
  newPassword!: string;
}
