import { Injectable, type OnApplicationBootstrap } from '@nestjs/common';
import { TenantsService } from './tenants.service';

/** At API boot, finishes tenants a crash left half-made (provisioning) or half-deleted (deleting). */
@Injectable()
export class BootReconciler implements OnApplicationBootstrap {
  constructor(private readonly tenants: TenantsService) {}

  onApplicationBootstrap(): void {
    this.tenants.reconcileInBackground();
  }
}
