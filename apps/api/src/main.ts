import 'reflect-metadata';
import './node-support';
import { Logger } from '@nestjs/common';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { type AppConfig, ConfigError, loadConfig } from '@lib/config';
import { DynamoDbLocal, DynamoDbLocalError, repoRoot } from '@lib/dynamo/local';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { createApp } from './app.factory';
import { developmentSummary } from './development-summary';
import { holdPortWhileBooting } from './health/boot-listener';
import { ShutdownState } from './health/shutdown-state';

const logger = new Logger('Main');

/** One clear line and a non-zero exit for the failures an operator can fix. */
function fail(message: string): never {
  process.stderr.write(`${message}\n`);
  process.exit(1);
}

/** The configuration; a relative DATA_DIR is taken from the repository, wherever the API is started from. */
function readConfig(): AppConfig {
  try {
    return loadConfig(process.env, repoRoot());
  } catch (error) {
    if (error instanceof ConfigError) fail(`Invalid configuration: ${error.message}`);
    if (error instanceof DynamoDbLocalError) fail(error.message);
    throw error;
  }
}

/** More crashes of the embedded DynamoDB Local than this within CRASH_WINDOW_MS: the API exits 1. */
const MAX_EMBEDDED_CRASHES = 3;
const CRASH_WINDOW_MS = 60_000;

/** The embedded DynamoDB Local of the current process; replaced when it is restarted. */
interface Embedded {
  current: DynamoDbLocal;
}

async function startEmbeddedDynamo(config: AppConfig): Promise<Embedded | undefined> {
  if (!config.dynamo.embedded) return undefined;
  const dbPath = join(config.dataDir, 'dynamodb');
  try {
    const embedded = { current: await DynamoDbLocal.start({ dbPath }) };
    config.dynamo.endpoint = embedded.current.endpoint;
    superviseEmbedded(embedded, dbPath, []);
    return embedded;
  } catch (error) {
    if (error instanceof DynamoDbLocalError) fail(error.message);
    throw error;
  }
}

/**
 * A development API must not keep answering 503 over a dead database: when the embedded DynamoDB Local dies, it
 * is started again on the same port and files (the shared client reconnects by itself; requests in between get
 * 503). When it cannot be restarted, or keeps dying, the API exits 1 so that a supervisor, or the developer,
 * sees it.
 */
function superviseEmbedded(embedded: Embedded, dbPath: string, crashes: number[]): void {
  embedded.current.onUnexpectedExit((how) => {
    const recent = [...crashes, Date.now()].filter((at) => at > Date.now() - CRASH_WINDOW_MS);
    if (recent.length > MAX_EMBEDDED_CRASHES) {
      fail(`embedded DynamoDB Local exited ${recent.length} times within a minute (${how}); stopping the API`);
    }
    logger.error(`embedded DynamoDB Local exited unexpectedly (${how}); restarting it`);
    DynamoDbLocal.start({ dbPath, port: embedded.current.port }).then(
      (restarted) => {
        embedded.current = restarted;
        logger.log(`embedded DynamoDB Local restarted at ${restarted.endpoint}`);
        superviseEmbedded(embedded, dbPath, recent);
      },
      (error: Error) => fail(`embedded DynamoDB Local could not be restarted: ${error.message}`),
    );
  });
}

/**
 * SIGTERM/SIGINT: readiness turns 503 at once and responses ask clients to close their connections; for the
 * drain (SHUTDOWN_DRAIN_MS) the server keeps serving (connections a load balancer or client opened just before
 * are accepted, not reset); then Fastify stops accepting connections and waits for requests in flight; when
 * SHUTDOWN_GRACE_MS (counted from the signal) is over, the remaining connections are closed. Then the embedded
 * database stops and the process exits 0.
 */
function handleSignals(app: NestFastifyApplication, config: AppConfig, local: Embedded | undefined): void {
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
      await local?.current.stop();
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
  // Probes get answers during the boot (live 200, ready 503) instead of a refused connection.
  const releasePort = await holdPortWhileBooting(config.port, config.host);
  const local = await startEmbeddedDynamo(config);
  let app: NestFastifyApplication;
  try {
    app = await createApp(config);
  } catch (error) {
    await local?.current.stop();
    throw error;
  }
  handleSignals(app, config, local);
  await releasePort?.();
  await app.listen({ port: config.port, host: config.host });
  const address = app.getHttpServer().address();
  const port = typeof address === 'object' && address ? address.port : config.port;
  if (config.nodeEnv === 'development' || local) {
    process.stderr.write(developmentSummary(config, port, local?.current.port));
    return;
  }
  logger.log(`API listening on http://${config.host}:${port} (docs ${config.docsEnabled ? `at /docs` : 'off'})`);
  for (const notice of config.generatedNotices) logger.warn(notice);
}

main().catch((error: unknown) => {
  process.stderr.write(`Startup failed: ${(error as Error).message}\n`);
  process.exit(1);
});
