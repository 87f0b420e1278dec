import { Module } from '@nestjs/common';
import { UsageModule } from '../usage/usage.module';
import { TenantProvisioner } from './tenant-provisioner';
import { TenantSeeder } from './tenant-seeder';
import { TenantsController } from './tenants.controller';
import { TenantsRepository } from './tenants.repository';
import { TenantsService } from './tenants.service';

@Module({
  imports: [UsageModule],
  controllers: [TenantsController],
  providers: [TenantsRepository, TenantSeeder, TenantProvisioner, TenantsService],
  exports: [TenantsService, TenantProvisioner],
})
export class TenantsModule {}
