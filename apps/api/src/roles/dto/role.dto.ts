import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { ArrayMaxSize, ArrayUnique, IsArray, IsIn, IsOptional, IsString, Matches, MaxLength } from 'class-validator';
import { NoControlChars } from '../../common/text';
import { Permission } from '@lib/auth';

const PERMISSIONS = Object.values(Permission);
/** Built-in and custom roles together. */
export const MAX_ROLES_PER_TENANT = 100;
export const ROLE_NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9 _-]{0,38}[A-Za-z0-9]$/;

export class CreateRoleDto {
  @ApiProperty({ example: 'support-agent', pattern: ROLE_NAME_PATTERN.source })
  @IsString()
  @NoControlChars()
  @Matches(ROLE_NAME_PATTERN, { message: 'name must be 2-40 letters, digits, spaces, _ or -' })
  name!: string;

  @ApiPropertyOptional({ maxLength: 500 })
  @IsOptional()
  @IsString()
  @NoControlChars({ multiline: true })
  @MaxLength(500)
  description?: string;

  @ApiProperty({ enum: PERMISSIONS, isArray: true, maxItems: PERMISSIONS.length })
  @IsArray()
  @ArrayUnique()
  @ArrayMaxSize(PERMISSIONS.length)
  @IsIn(PERMISSIONS, { each: true, message: 'unknown permission' })
  permissions!: Permission[];
}

export class UpdateRoleDto {
  @ApiPropertyOptional({ pattern: ROLE_NAME_PATTERN.source })
  @IsOptional()
  @IsString()
  @NoControlChars()
  @Matches(ROLE_NAME_PATTERN, { message: 'name must be 2-40 letters, digits, spaces, _ or -' })
  name?: string;

  @ApiPropertyOptional({ maxLength: 500 })
  @IsOptional()
  @IsString()
  @NoControlChars({ multiline: true })
  @MaxLength(500)
  description?: string;

  @ApiPropertyOptional({ enum: PERMISSIONS, isArray: true, maxItems: PERMISSIONS.length })
  @IsOptional()
  @IsArray()
  @ArrayUnique()
  @ArrayMaxSize(PERMISSIONS.length)
  @IsIn(PERMISSIONS, { each: true, message: 'unknown permission' })
  permissions?: Permission[];
}

export class RoleDto {
  @ApiProperty()
  id!: string;

  @ApiProperty()
  name!: string;

  @ApiProperty()
  description!: string;

  @ApiProperty({ enum: PERMISSIONS, isArray: true, maxItems: PERMISSIONS.length })
  permissions!: string[];

  @ApiProperty({ description: 'Built-in roles cannot be changed or deleted' })
  builtIn!: boolean;

  @ApiProperty({ format: 'date-time' })
  createdAt!: string;

  @ApiProperty({ format: 'date-time' })
  updatedAt!: string;
}

export class RoleListDto {
  @ApiProperty({ type: [RoleDto], maxItems: MAX_ROLES_PER_TENANT })
  items!: RoleDto[];
}

export class PermissionDto {
  @ApiProperty({ enum: PERMISSIONS })
  name!: string;

  @ApiProperty()
  description!: string;
}
