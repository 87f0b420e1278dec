import { Global, Module } from '@nestjs/common';
import { ChangeFeed } from './change-feed';
import { ControlTableService } from './control-table.service';
import { TenantRegistry } from './tenant-registry';

@Global()
@Module({
  providers: [ControlTableService, ChangeFeed, TenantRegistry],
  exports: [ControlTableService, ChangeFeed, TenantRegistry],
})
export class TenancyModule {}
