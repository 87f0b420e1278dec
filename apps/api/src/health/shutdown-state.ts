import { Injectable } from '@nestjs/common';

/** Set once SIGTERM arrives: readiness answers 503 from then on, so load balancers stop sending traffic. */
@Injectable()
export class ShutdownState {
  private draining = false;
  private closed = false;

  begin(): void {
    this.draining = true;
  }

  /** The listener is closing: requests still arriving on open connections are refused with a 503 problem. */
  close(): void {
    this.closed = true;
  }

  get isClosing(): boolean {
    return this.closed;
  }

  get isShuttingDown(): boolean {
    return this.draining;
  }
}
