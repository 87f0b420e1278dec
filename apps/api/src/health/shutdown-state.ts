import { Injectable } from '@nestjs/common';

/** Set once SIGTERM arrives: readiness answers 503 from then on, so load balancers stop sending traffic. */
@Injectable()
export class ShutdownState {
  private draining = false;

  begin(): void {
    this.draining = true;
  }

  get isShuttingDown(): boolean {
    return this.draining;
  }
}
