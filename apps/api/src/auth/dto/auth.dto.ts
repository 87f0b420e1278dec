import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Permission } from '@lib/auth';
import { IsEmail, IsOptional, IsString, Matches, MaxLength, MinLength } from 'class-validator';
import { NoControlChars } from '../../common/text';
import { SLUG_PATTERN } from '../../tenants/dto/tenant.dto';

export class LoginDto {
  @ApiProperty({ example: 'acme', description: 'Tenant slug', pattern: SLUG_PATTERN.source })
  @IsString()
  @NoControlChars()
  @Matches(SLUG_PATTERN, { message: 'tenant must be a tenant slug' })
  tenant!: string;

  @ApiProperty({ example: 'ada@acme.test', format: 'email', maxLength: 254 })
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

export class LogoutDto {
  @ApiPropertyOptional({ description: 'Also revoke the session of this refresh token (same user)' })
  @IsOptional()
  @IsString()
  @NoControlChars()
  @MaxLength(300)
  refreshToken?: string;
}

export class MeRoleDto {
  @ApiProperty()
  id!: string;

  @ApiProperty()
  name!: string;
}

export class MeTenantDto {
  @ApiProperty()
  id!: string;

  @ApiProperty()
  slug!: string;

  @ApiProperty()
  name!: string;
}

export class MeDto {
  @ApiProperty()
  id!: string;

  @ApiProperty()
  email!: string;

  @ApiProperty()
  name!: string;

  @ApiProperty({ type: [MeRoleDto], maxItems: 10 })
  roles!: MeRoleDto[];

  @ApiProperty({ type: [String], maxItems: Object.values(Permission).length })
  permissions!: string[];

  @ApiProperty({ type: MeTenantDto })
  tenant!: MeTenantDto;
}
