import { Module } from '@nestjs/common';
import { UsageModule } from '../usage/usage.module';
import { TenantExportService } from './export/tenant-export.service';
import { TenantImportService } from './export/tenant-import.service';
import { TenantProvisioner } from './tenant-provisioner';
import { TenantSeeder } from './tenant-seeder';
import { TenantsController } from './tenants.controller';
import { TenantsRepository } from './tenants.repository';
import { TenantsService } from './tenants.service';

@Module({
  imports: [UsageModule],
  controllers: [TenantsController],
  providers: [
    TenantsRepository,
    TenantSeeder,
    TenantProvisioner,
    TenantsService,
    TenantExportService,
    TenantImportService,
  ],
  exports: [TenantsService, TenantProvisioner, TenantExportService, TenantImportService],
})
export class TenantsModule {}
