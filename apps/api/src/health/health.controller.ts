import { Controller, Get, HttpStatus, Res } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiServiceUnavailableResponse, ApiTags } from '@nestjs/swagger';
import { Public } from '@lib/auth';
import { ControlTableService } from '@lib/tenancy';
import type { FastifyReply } from 'fastify';
import { HealthDto, ReadinessDto } from './health.dto';
import { ShutdownState } from './shutdown-state';

const READY_CHECK_TIMEOUT_MS = 2000;

@ApiTags('ops')
@Controller('health')
export class HealthController {
  constructor(
    private readonly control: ControlTableService,
    private readonly shutdown: ShutdownState,
  ) {}

  @Get('live')
  @Public()
  @ApiOperation({ operationId: 'getLiveness' })
  @ApiOkResponse({ type: HealthDto })
  live(): HealthDto {
    return { status: 'ok' };
  }

  /** 200 when DynamoDB answers and the control table is ACTIVE; 503 otherwise and while shutting down. */
  @Get('ready')
  @Public()
  @ApiOperation({ operationId: 'getReadiness' })
  @ApiOkResponse({ type: ReadinessDto })
  // Readiness answers 503 with its checks (and, while the listener closes, the shutdown problem).
  @ApiServiceUnavailableResponse({ type: ReadinessDto })
  async ready(@Res({ passthrough: true }) reply: FastifyReply): Promise<ReadinessDto> {
    const result = await this.check();
    if (result.status !== 'ok') void reply.status(HttpStatus.SERVICE_UNAVAILABLE);
    return result;
  }

  private async check(): Promise<ReadinessDto> {
    if (this.shutdown.isShuttingDown) return { status: 'unavailable', checks: { shutdown: 'in progress' } };
    let timer: NodeJS.Timeout | undefined;
    try {
      const active = await Promise.race([
        this.control.isActive(),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error('timeout')), READY_CHECK_TIMEOUT_MS);
        }),
      ]);
      return active
        ? { status: 'ok', checks: { dynamodb: 'ok', controlTable: 'active' } }
        : { status: 'unavailable', checks: { dynamodb: 'ok', controlTable: 'not active' } };
    } catch {
      return { status: 'unavailable', checks: { dynamodb: 'unreachable' } };
    } finally {
      clearTimeout(timer);
    }
  }
}
