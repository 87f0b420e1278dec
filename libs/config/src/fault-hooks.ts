import { Injectable } from '@nestjs/common';
import { AppConfig } from './app-config';

/**
 * Named points of the product where a crash leaves half-done work behind: the message exchange once the user's
 * message is stored, and tenant provisioning after each of its steps, a tenant import half-way through its items. Recovery from each is specified by
 * tests that have the process die there (TEST_CRASH_POINT).
 */
export const CRASH_POINTS = [
  'after-user-message',
  'after-tenant-record',
  'after-tenant-table',
  'after-tenant-roles',
  'after-tenant-admin',
  'half-way-tenant-import',
] as const;
export type CrashPoint = (typeof CRASH_POINTS)[number];

/**
 * Where production code announces that it reached a crash point. A no-op unless the configuration names the
 * point (TEST_CRASH_POINT, which the configuration accepts under NODE_ENV=test only); then the process dies
 * there at once, as a kill at that moment would, before anything else is written or answered.
 */
@Injectable()
export class FaultHooks {
  constructor(private readonly config: AppConfig) {}

  reached(point: CrashPoint): void {
    if (this.config.crashPoint === point) process.kill(process.pid, 'SIGKILL');
  }
}
