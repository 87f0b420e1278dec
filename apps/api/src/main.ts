import 'reflect-metadata';
import { Logger } from '@nestjs/common';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { type AppConfig, ConfigError, loadConfig } from '@lib/config';
import { DynamoDbLocal, DynamoDbLocalError } from '@lib/dynamo/local';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { createApp } from './app.factory';
import { ShutdownState } from './health/shutdown-state';

const logger = new Logger('Main');

/** One clear line and a non-zero exit for the failures an operator can fix. */
function fail(message: string): never {
  process.stderr.write(`${message}\n`);
  process.exit(1);
}

function readConfig(): AppConfig {
  try {
    return loadConfig();
  } catch (error) {
    if (error instanceof ConfigError) fail(`Invalid configuration: ${error.message}`);
    throw error;
  }
}

async function startEmbeddedDynamo(config: AppConfig): Promise<DynamoDbLocal | undefined> {
  if (!config.dynamo.embedded) return undefined;
  try {
    const local = await DynamoDbLocal.start({ dbPath: join(config.dataDir, 'dynamodb') });
    config.dynamo.endpoint = local.endpoint;
    logger.log(`embedded DynamoDB Local at ${local.endpoint} (data in ${join(config.dataDir, 'dynamodb')})`);
    return local;
  } catch (error) {
    if (error instanceof DynamoDbLocalError) fail(error.message);
    throw error;
  }
}

/**
 * SIGTERM/SIGINT: readiness turns 503 at once and responses ask clients to close their connections; for the
 * drain (SHUTDOWN_DRAIN_MS) the server keeps serving (connections a load balancer or client opened just before
 * are accepted, not reset); then Fastify stops accepting connections and waits for requests in flight; when
 * SHUTDOWN_GRACE_MS (counted from the signal) is over, the remaining connections are closed. Then the embedded
 * database stops and the process exits 0.
 */
function handleSignals(app: NestFastifyApplication, config: AppConfig, local: DynamoDbLocal | undefined): void {
  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.log(`${signal} received: draining (grace ${config.shutdownGraceMs} ms)`);
    app.get(ShutdownState).begin();
    const server = app.getHttpServer();
    const force = setTimeout(() => {
      logger.warn('grace period over: closing remaining connections');
      server.closeAllConnections();
    }, config.shutdownGraceMs);
    force.unref();
    try {
      await sleep(config.shutdownDrainMs);
      app.get(ShutdownState).close();
      await app.close();
      await local?.stop();
      clearTimeout(force);
      logger.log('shutdown complete');
      process.exit(0);
    } catch (error) {
      logger.error(`shutdown failed: ${(error as Error).message}`);
      process.exit(1);
    }
  };
  process.once('SIGTERM', () => void stop('SIGTERM'));
  process.once('SIGINT', () => void stop('SIGINT'));
}

async function main(): Promise<void> {
  const config = readConfig();
  const local = await startEmbeddedDynamo(config);
  let app: NestFastifyApplication;
  try {
    app = await createApp(config);
  } catch (error) {
    await local?.stop();
    throw error;
  }
  handleSignals(app, config, local);
  await app.listen({ port: config.port, host: config.host });
  const address = app.getHttpServer().address();
  const port = typeof address === 'object' && address ? address.port : config.port;
  logger.log(`API listening on http://${config.host}:${port} (docs ${config.docsEnabled ? `at /docs` : 'off'})`);
  for (const notice of config.generatedNotices) logger.warn(notice);
}

main().catch((error: unknown) => {
  process.stderr.write(`Startup failed: ${(error as Error).message}\n`);
  process.exit(1);
});
