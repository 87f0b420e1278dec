import pino from 'pino';
import { PinoNestLogger } from './logger';

function loggerAt(level: string): { logger: PinoNestLogger; lines: Array<{ level: number; msg: string }> } {
  const lines: Array<{ level: number; msg: string }> = [];
  const destination = { write: (line: string) => lines.push(JSON.parse(line) as { level: number; msg: string }) };
  return { logger: new PinoNestLogger(pino({ level }, destination)), lines };
}

describe('PinoNestLogger: Nest start-up lines', () => {
  it("writes route mapping and module initialisation at debug, the application's own lines at info", () => {
    const { logger, lines } = loggerAt('info');
    logger.log('Mapped {/health/live, GET} route', 'RouterExplorer');
    logger.log('HealthController {/health}:', 'RoutesResolver');
    logger.log('AppModule dependencies initialized', 'InstanceLoader');
    logger.log('control table chat-platform ready', 'ControlTableService');
    expect(lines.map((l) => l.msg)).toEqual(['control table chat-platform ready']);
  });

  it('shows them again at LOG_LEVEL=debug', () => {
    const { logger, lines } = loggerAt('debug');
    logger.log('Mapped {/health/live, GET} route', 'RouterExplorer');
    expect(lines).toEqual([expect.objectContaining({ level: 20, msg: 'Mapped {/health/live, GET} route' })]);
  });
});
