// Jest globalTeardown: stops the DynamoDB Local that global-setup.ts started (nothing when DYNAMODB_ENDPOINT was given).
import type { DynamoDbLocal } from '../../libs/dynamo/src/local/dynamodb-local';

declare global {
  var __DDB_LOCAL__: DynamoDbLocal | undefined;
}

export default async function globalTeardown(): Promise<void> {
  const local = globalThis.__DDB_LOCAL__;
  globalThis.__DDB_LOCAL__ = undefined;
  if (!local) return;
  await local.stop();
  // In watch mode the next run's globalSetup must not reuse this (now stopped) endpoint.
  if (process.env.DYNAMODB_ENDPOINT === local.endpoint) delete process.env.DYNAMODB_ENDPOINT;
}
