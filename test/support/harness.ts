import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { type AppConfig, loadConfig } from '@lib/config';
import { randomBytes } from 'node:crypto';
import { createApp } from '../../apps/api/src/app.factory';

export const OPERATOR_EMAIL = 'root@operators.test';
export const OPERATOR_PASSWORD = 'correct horse battery staple';
export const JWT_SECRET = 'test-secret-'.padEnd(48, 'x');

export interface TestApp {
  app: NestFastifyApplication;
  config: AppConfig;
  /** Base URL of the listening server, for supertest. */
  url: string;
  close(): Promise<void>;
}

/** A table prefix of its own per spec file, so files never share data and run in any order. */
export function uniquePrefix(): string {
  return `e2e${randomBytes(4).toString('hex')}-`;
}

/** The environment a test app boots with; overrides win. DYNAMODB_ENDPOINT comes from the global setup. */
export function testEnv(overrides: Record<string, string | undefined> = {}): Record<string, string | undefined> {
  return {
    NODE_ENV: 'test',
    LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent',
    DYNAMODB_ENDPOINT: process.env.DYNAMODB_ENDPOINT,
    AWS_REGION: 'us-east-1',
    TABLE_PREFIX: uniquePrefix(),
    JWT_SECRET,
    BOOTSTRAP_OPERATOR_EMAIL: OPERATOR_EMAIL,
    BOOTSTRAP_OPERATOR_PASSWORD: OPERATOR_PASSWORD,
    // Generous: a shared 2-core machine under a full suite can be slow; fault tests set their own.
    DYNAMODB_TIMEOUT_MS: '10000',
    DATA_DIR: '.data/test',
    ...overrides,
  };
}

/** Boots the real app (same factory as main.ts) on a free loopback port. */
export async function startApp(overrides: Record<string, string | undefined> = {}): Promise<TestApp> {
  const config = loadConfig(testEnv(overrides));
  const app = await createApp(config);
  await app.listen({ port: 0, host: '127.0.0.1' });
  const address = app.getHttpServer().address();
  if (!address || typeof address !== 'object') throw new Error('no address');
  return { app, config, url: `http://127.0.0.1:${address.port}`, close: () => app.close() };
}
