import { Injectable } from '@nestjs/common';
import { collectDefaultMetrics, Histogram, Registry } from 'prom-client';

/**
 * The process's one Prometheus registry. Other libs register their own metrics on `registry`
 * (see libs/dynamo instrumentation); `/metrics` renders it.
 */
@Injectable()
export class MetricsService {
  readonly registry = new Registry();

  readonly httpRequestDuration = new Histogram({
    name: 'http_request_duration_seconds',
    help: 'HTTP request latency by method, route template and status code',
    labelNames: ['method', 'route', 'status'] as const,
    buckets: [0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [this.registry],
  });

  constructor() {
    // The event-loop delay monitor keeps prom-client's 10 ms sampling. Each sample is a timer wake-up (about 6 ms
    // of CPU per second on an idle process here), but the lag percentiles include the sampling interval: at 50 ms
    // an idle process would report 50 ms of lag, and dashboards would have to know to subtract it.
    collectDefaultMetrics({ register: this.registry });
    // prom-client names three gauges `*_total`, which Prometheus reserves for counters (promtool flags them);
    // the same figures are in `nodejs_active_handles`, `nodejs_active_requests`, `nodejs_active_resources`.
    for (const name of [
      'nodejs_active_handles_total',
      'nodejs_active_requests_total',
      'nodejs_active_resources_total',
    ]) {
      this.registry.removeSingleMetric(name);
    }
  }

  observeHttp(method: string, route: string, status: number, seconds: number): void {
    this.httpRequestDuration.observe({ method, route, status: String(status) }, seconds);
  }

  render(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}
