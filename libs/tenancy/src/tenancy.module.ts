import { Global, Module } from '@nestjs/common';
import { ControlTableService } from './control-table.service';
import { TenantRegistry } from './tenant-registry';

@Global()
@Module({ providers: [ControlTableService, TenantRegistry], exports: [ControlTableService, TenantRegistry] })
export class TenancyModule {}
