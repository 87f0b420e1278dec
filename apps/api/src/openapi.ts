import { NestFactory } from '@nestjs/core';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import { loadConfig } from '@lib/config';
import type { OpenAPIObject } from '@nestjs/swagger';
import { buildOpenApiDocument } from './app.factory';
import { AppModule } from './app.module';

/** Sorts object keys recursively so that the checked-in document diffs cleanly. */
function sorted(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sorted);
  if (value && typeof value === 'object') {
    return Object.fromEntries(
      Object.keys(value as Record<string, unknown>)
        .sort()
        .map((k) => [k, sorted((value as Record<string, unknown>)[k])]),
    );
  }
  return value;
}

/**
 * The OpenAPI document of the app, built from the code without touching DynamoDB (providers are created,
 * lifecycle hooks are not run). `npm run openapi` writes it to openapi.json; a test compares the two.
 */
export async function generateOpenApi(): Promise<OpenAPIObject> {
  const config = loadConfig({
    NODE_ENV: 'test',
    LOG_LEVEL: 'silent',
    DYNAMODB_ENDPOINT: 'http://127.0.0.1:9',
    JWT_SECRET: 'openapi-generation-only-'.padEnd(40, 'x'),
    BOOTSTRAP_OPERATOR_EMAIL: 'openapi@example.com',
    BOOTSTRAP_OPERATOR_PASSWORD: 'openapi-generation-only',
  });
  const app = await NestFactory.create<NestFastifyApplication>(AppModule.forRoot(config), new FastifyAdapter(), {
    logger: false,
    abortOnError: false,
  });
  try {
    return sorted(buildOpenApiDocument(app)) as OpenAPIObject;
  } finally {
    await app.close();
  }
}
