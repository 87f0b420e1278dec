import { NestFactory } from '@nestjs/core';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import { DocumentBuilder, SwaggerModule } from '@nestjs/swagger';
import type { AppConfig } from '@lib/config';
import { createRootLogger, MetricsService, PinoNestLogger } from '@lib/observability';
import helmet from 'helmet';
import { AppModule } from './app.module';
import { genReqId, logContext, registerHttpHooks } from './common/http-hooks';
import { registerJsonBodyParser } from './common/json-body';
import { completeOpenApiDocument, OPENAPI_DOCUMENT_OPTIONS } from './common/openapi-contract';
import { clientErrorProblem } from './common/problem';
import { frameworkErrorProblem } from './common/problem.filter';
import { createValidationPipe } from './common/validation';
import { ShutdownState } from './health/shutdown-state';

export function buildOpenApiDocument(app: NestFastifyApplication) {
  const config = new DocumentBuilder()
    .setTitle('Chat platform API')
    .setDescription('Multi-tenant backend for LLM chat applications. Errors are RFC 9457 problem details.')
    .setVersion('1')
    .addBearerAuth({
      type: 'http',
      scheme: 'bearer',
      bearerFormat: 'JWT',
      description: 'Access token (JWT, RFC8725 best practices: pinned alg, iss, aud, typ at+jwt, required exp)',
    })
    .addServer('/')
    .addTag('ops', 'Health and metrics')
    .addTag('operators', 'Platform operators: sign-in and profile')
    .addTag('tenants', 'Tenant onboarding and lifecycle (operators)')
    .addTag('auth', 'Tenant sign-in for client apps')
    .addTag('users', 'Users of a tenant')
    .addTag('roles', 'Roles and the permission catalogue')
    .addTag('chats', 'Chats, messages and streamed replies')
    .addTag('usage', 'Token usage and DynamoDB capacity')
    .build();
  return completeOpenApiDocument(SwaggerModule.createDocument(app, config, OPENAPI_DOCUMENT_OPTIONS));
}

/**
 * Builds the application exactly as production runs it (main.ts and the e2e tests both use this):
 * Fastify adapter, hooks, validation, problem responses, security headers, docs. Returns it initialized.
 */
export async function createApp(config: AppConfig): Promise<NestFastifyApplication> {
  const adapter = new FastifyAdapter({
    bodyLimit: config.bodyLimitBytes,
    genReqId,
    requestIdHeader: false,
    trustProxy: config.trustProxy,
    // Our onRequest hook answers requests that arrive while closing with a 503 problem (Retry-After).
    return503OnClosing: false,
    forceCloseConnections: 'idle',
    // Requests Node's parser refuses (oversized headers → 431) get a problem body too.
    clientErrorHandler: clientErrorProblem,
    // Routing errors (a path parameter over maxParamLength → 414, a malformed URL) are problems too.
    frameworkErrors: frameworkErrorProblem,
  });
  const log = createRootLogger(config.logLevel, logContext);
  const app = await NestFactory.create<NestFastifyApplication>(AppModule.forRoot(config), adapter, {
    logger: new PinoNestLogger(log),
    // Throw instead of process.exit on a boot error, so that main.ts (and tests) report it and clean up.
    abortOnError: false,
    // Fastify's own JSON parser only; Nest's would also accept url-encoded forms.
    bodyParser: false,
  });
  const fastify = app.getHttpAdapter().getInstance();
  // JSON only: a text/plain body is refused with 415 rather than reaching a handler as a string.
  fastify.removeContentTypeParser('text/plain');
  registerJsonBodyParser(fastify);
  const shutdown = app.get(ShutdownState);
  registerHttpHooks(
    fastify,
    app.get(MetricsService),
    log,
    () => shutdown.isShuttingDown,
    () => shutdown.isClosing,
  );
  // Security headers: helmet's middleware is built once here (@fastify/helmet rebuilt it, options parsing
  // included, on every request); the headers are the same for every response.
  const securityHeaders = helmet({
    contentSecurityPolicy: {
      directives: {
        defaultSrc: ["'self'"],
        scriptSrc: ["'self'"],
        styleSrc: ["'self'", "'unsafe-inline'"],
        imgSrc: ["'self'", 'data:'],
      },
    },
  });
  fastify.addHook('onRequest', (request, reply, done) =>
    securityHeaders(request.raw, reply.raw, (err) => done(err as Error | undefined)),
  );
  // Browsers from other origins only when some are configured (no CORS hook on every request otherwise).
  if (config.corsOrigins.length > 0) {
    app.enableCors({ origin: config.corsOrigins, exposedHeaders: ['x-request-id', 'etag', 'retry-after'] });
  }
  app.useGlobalPipes(createValidationPipe());
  if (config.docsEnabled) {
    SwaggerModule.setup('docs', app, () => buildOpenApiDocument(app), {
      jsonDocumentUrl: 'docs-json',
      yamlDocumentUrl: 'docs-yaml',
    });
  }
  await app.init();
  await fastify.ready();
  return app;
}
