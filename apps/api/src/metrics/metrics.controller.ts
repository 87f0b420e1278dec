import { Controller, Get, Headers, Res } from '@nestjs/common';
import { ApiExcludeController } from '@nestjs/swagger';
import { Public } from '@lib/auth';
import { AppConfig } from '@lib/config';
import { DomainError, MetricsService } from '@lib/observability';
import type { FastifyReply } from 'fastify';
import { timingSafeEqual } from 'node:crypto';

/** Prometheus text format; bearer-protected by METRICS_TOKEN when it is set (its own token, not a JWT). */
@ApiExcludeController()
@Controller('metrics')
export class MetricsController {
  constructor(
    private readonly metrics: MetricsService,
    private readonly config: AppConfig,
  ) {}

  @Get()
  @Public()
  async scrape(@Headers('authorization') authorization: string | undefined, @Res() reply: FastifyReply): Promise<void> {
    const expected = this.config.metricsToken;
    if (expected && !sameSecret(authorization ?? '', `Bearer ${expected}`)) {
      throw new DomainError('unauthenticated', 'metrics token required');
    }
    void reply.header('content-type', this.metrics.contentType).send(await this.metrics.render());
  }
}

function sameSecret(given: string, expected: string): boolean {
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}
