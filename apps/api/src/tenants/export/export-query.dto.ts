import { ApiPropertyOptional } from '@nestjs/swagger';
import { IsIn, IsOptional } from 'class-validator';

export class ExportQueryDto {
  @ApiPropertyOptional({
    enum: ['true', 'false'],
    description:
      'Export an active tenant without suspending it: items are read at different moments while writes go on ' +
      '(docs/export-import.md, "Consistency"). Without it, only a suspended tenant is exported.',
  })
  @IsOptional()
  @IsIn(['true', 'false'])
  allowSkew?: 'true' | 'false';
}
