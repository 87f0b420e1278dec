import { ApiProperty } from '@nestjs/swagger';
import { IsEmail, IsString, MaxLength, MinLength } from 'class-validator';
import { NoControlChars } from '../../common/text';

export class OperatorLoginDto {
  @ApiProperty({ example: 'operator@example.com', format: 'email', maxLength: 254 })
  @IsEmail()
  @NoControlChars()
  @MaxLength(254)
  email!: string;

  @ApiProperty({ minLength: 1, maxLength: 256, writeOnly: true })
  @IsString()
  @NoControlChars()
  @MinLength(1)
  @MaxLength(256)
  password!: string;
}

export class RefreshDto {
  @ApiProperty({ description: 'The refresh token from the last login or refresh', maxLength: 200 })
  @IsString()
  @NoControlChars()
  @MaxLength(200)
  refreshToken!: string;
}

export class TokenPairDto {
  @ApiProperty()
  accessToken!: string;

  @ApiProperty({ description: 'Opaque; rotated on every refresh; reuse of a rotated token revokes the session' })
  refreshToken!: string;

  @ApiProperty({ enum: ['Bearer'] })
  tokenType!: 'Bearer';

  @ApiProperty({ description: 'Access token lifetime in seconds', example: 900 })
  expiresIn!: number;
}

export class OperatorDto {
  @ApiProperty({ example: '01J9Z8Q3M5XK6B2N4P7R8S9T0V' })
  id!: string;

  @ApiProperty()
  email!: string;

  @ApiProperty()
  name!: string;
}
