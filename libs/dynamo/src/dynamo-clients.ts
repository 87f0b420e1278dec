import { DynamoDB } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { DynamoSettings } from '@lib/config';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';

/** The process's one DynamoDB client and the document client on top of it (shared by dynamoose too). */
export class DynamoClients {
  constructor(
    readonly ddb: DynamoDB,
    readonly doc: DynamoDBDocumentClient,
  ) {}

  destroy(): void {
    this.doc.destroy();
    this.ddb.destroy();
  }
}

export function createDynamoClients(settings: DynamoSettings, endpoint = settings.endpoint): DynamoClients {
  const agentOptions = { keepAlive: true, keepAliveMsecs: 1000, maxSockets: 256 };
  const ddb = new DynamoDB({
    region: settings.region,
    endpoint,
    // DynamoDB Local accepts any key; AWS uses the default credential chain.
    credentials:
      endpoint && !process.env.AWS_ACCESS_KEY_ID ? { accessKeyId: 'local', secretAccessKey: 'local' } : undefined,
    maxAttempts: settings.maxAttempts,
    requestHandler: new NodeHttpHandler({
      httpAgent: new HttpAgent(agentOptions),
      httpsAgent: new HttpsAgent(agentOptions),
      connectionTimeout: settings.connectTimeoutMs,
      requestTimeout: settings.timeoutMs,
      // Without this the SDK only warns on a timeout and a paused database hangs the request forever.
      throwOnRequestTimeout: true,
    }),
  });
  const doc = DynamoDBDocumentClient.from(ddb, {
    marshallOptions: { removeUndefinedValues: true, convertClassInstanceToMap: false },
    unmarshallOptions: { wrapNumbers: false },
  });
  return new DynamoClients(ddb, doc);
}
