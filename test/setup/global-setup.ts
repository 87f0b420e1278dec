// Jest globalSetup: one DynamoDB Local per test run, in memory, on a free port, unless DYNAMODB_ENDPOINT is set.
// Runs outside moduleNameMapper, hence the relative import. Env set here is inherited by the test workers.
import { DynamoDbLocal } from '../../libs/dynamo/src/local/dynamodb-local';

declare global {
  // Read back by global-teardown.ts (globalSetup and globalTeardown share this global scope).
  var __DDB_LOCAL__: DynamoDbLocal | undefined;
}

export default async function globalSetup(): Promise<void> {
  // The SDK's notice about Node 22 (see README) would repeat in every test file; the product still prints it.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';
  if (process.env.DYNAMODB_ENDPOINT) {
    process.stdout.write(`\n[dynamodb-local] tests use DYNAMODB_ENDPOINT=${process.env.DYNAMODB_ENDPOINT}\n`);
    return;
  }
  const started = Date.now();
  const local = await DynamoDbLocal.start({ inMemory: true });
  globalThis.__DDB_LOCAL__ = local;
  process.env.DYNAMODB_ENDPOINT = local.endpoint;
  process.env.AWS_ACCESS_KEY_ID = 'local';
  process.env.AWS_SECRET_ACCESS_KEY = 'local';
  process.env.AWS_REGION ||= 'us-east-1';
  process.stdout.write(`\n[dynamodb-local] started at ${local.endpoint} in ${Date.now() - started} ms\n`);
}
