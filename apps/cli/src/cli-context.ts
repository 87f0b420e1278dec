import type { INestApplicationContext, LoggerService } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { type AppConfig, loadConfig } from '@lib/config';
import { DynamoDbLocal, readEmbeddedEndpoint, repoRoot } from '@lib/dynamo/local';
import { join } from 'node:path';
import { CliModule } from './cli.module';

/** Warnings and errors go to stderr, so that stdout carries only the command's output (e.g. --json). */
class StderrLogger implements LoggerService {
  log(): void {}
  warn(message: unknown, context?: string): void {
    process.stderr.write(`warn${context ? ` [${context}]` : ''}: ${String(message)}\n`);
  }
  error(message: unknown, _trace?: string, context?: string): void {
    process.stderr.write(`error${context ? ` [${context}]` : ''}: ${String(message)}\n`);
  }
}

/** An error whose message is the whole story for the operator (printed without a stack). */
export class CliError extends Error {}

export type WithContext = <T>(fn: (ctx: INestApplicationContext, config: AppConfig) => Promise<T>) => Promise<T>;

/**
 * Runs `fn` with the application context: the same modules and services as the API, on the same DynamoDB.
 * In development without DYNAMODB_ENDPOINT it uses the running API's embedded database, or starts one on
 * the same data directory.
 */
export const withContext: WithContext = async (fn) => {
  // A relative DATA_DIR is the repository's, as for the API: run from another folder, the CLI still finds the
  // API's embedded database rather than starting an empty one of its own.
  const config = loadConfig(process.env, repoRoot());
  // The CLI writes changes (suspend, delete, operators) but serves no request: it has no cache to keep fresh.
  config.changeFeed.follow = false;
  let local: DynamoDbLocal | undefined;
  if (config.dynamo.embedded) {
    const dbPath = join(config.dataDir, 'dynamodb');
    const running = await readEmbeddedEndpoint(dbPath);
    if (running) config.dynamo.endpoint = running;
    else {
      local = await DynamoDbLocal.start({ dbPath });
      config.dynamo.endpoint = local.endpoint;
    }
  }
  const ctx = await NestFactory.createApplicationContext(CliModule.forRoot(config), {
    logger: new StderrLogger(),
    abortOnError: false,
  });
  try {
    return await fn(ctx, config);
  } finally {
    await ctx.close();
    await local?.stop();
  }
};
