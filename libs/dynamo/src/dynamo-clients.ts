import {
  DynamoDB,
  DynamoDBClient,
  GetItemCommand,
  QueryCommand,
  type QueryCommandInput,
} from '@aws-sdk/client-dynamodb';
import {
  DynamoDBDocumentClient,
  type GetCommandInput as DocGetInput,
  type QueryCommandInput as DocQueryInput,
} from '@aws-sdk/lib-dynamodb';
import { marshall, type marshallOptions, unmarshall, type unmarshallOptions } from '@aws-sdk/util-dynamodb';
import type { DynamoSettings } from '@lib/config';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';

const MARSHALL: Readonly<marshallOptions> = { removeUndefinedValues: true, convertClassInstanceToMap: false };
const UNMARSHALL: Readonly<unmarshallOptions> = { wrapNumbers: false };

export interface QueryPage {
  items: Array<Record<string, unknown>>;
  lastKey: Record<string, unknown> | undefined;
}

/**
 * The process's DynamoDB clients, all on one keep-alive connection pool: the client (shared by dynamoose too),
 * the document client on top of it, and `reads`, a client that caches its resolved middleware stack per
 * command type (`cacheMiddleware`, which the document client refuses) for the hottest reads (message pages,
 * and the operator, tenant and user lookups behind authentication): the SDK otherwise
 * rebuilds the stack on every call, and together with the document client's second stack that is about a
 * fifth of the client CPU of a Query (bench/README.md, "chat-messages.js").
 */
export class DynamoClients {
  constructor(
    readonly ddb: DynamoDB,
    readonly doc: DynamoDBDocumentClient,
    readonly reads: DynamoDBClient,
  ) {}

  /** A Query with document-client semantics (native values in, native items out) on the `reads` client. */
  async query(input: DocQueryInput): Promise<QueryPage> {
    const { ExpressionAttributeValues, ExclusiveStartKey, ...rest } = input;
    const raw: QueryCommandInput = { ...rest };
    if (ExpressionAttributeValues) raw.ExpressionAttributeValues = marshall(ExpressionAttributeValues, MARSHALL);
    if (ExclusiveStartKey) raw.ExclusiveStartKey = marshall(ExclusiveStartKey, MARSHALL);
    const output = await this.reads.send(new QueryCommand(raw));
    return {
      items: (output.Items ?? []).map((item) => unmarshall(item, UNMARSHALL)),
      lastKey: output.LastEvaluatedKey && unmarshall(output.LastEvaluatedKey, UNMARSHALL),
    };
  }

  /** A GetItem with document-client semantics on the `reads` client (the per-request lookups). */
  async get(input: DocGetInput): Promise<Record<string, unknown> | undefined> {
    const { Key, ...rest } = input;
    const output = await this.reads.send(new GetItemCommand({ ...rest, Key: marshall(Key ?? {}, MARSHALL) }));
    return output.Item && unmarshall(output.Item, UNMARSHALL);
  }

  destroy(): void {
    this.doc.destroy();
    this.ddb.destroy();
    this.reads.destroy();
  }
}

export function createDynamoClients(settings: DynamoSettings, endpoint = settings.endpoint): DynamoClients {
  const agentOptions = { keepAlive: true, keepAliveMsecs: 1000, maxSockets: 256 };
  const requestHandler = new NodeHttpHandler({
    httpAgent: new HttpAgent(agentOptions),
    httpsAgent: new HttpsAgent(agentOptions),
    connectionTimeout: settings.connectTimeoutMs,
    requestTimeout: settings.timeoutMs,
    // Without this the SDK only warns on a timeout and a paused database hangs the request forever.
    throwOnRequestTimeout: true,
  });
  const common = {
    region: settings.region,
    endpoint,
    // DynamoDB Local accepts any key; AWS uses the default credential chain.
    credentials:
      endpoint && !process.env.AWS_ACCESS_KEY_ID ? { accessKeyId: 'local', secretAccessKey: 'local' } : undefined,
    maxAttempts: settings.maxAttempts,
    requestHandler,
  };
  const ddb = new DynamoDB(common);
  // Copies: the document client writes into the options it is given (convertTopLevelContainer).
  const doc = DynamoDBDocumentClient.from(ddb, {
    marshallOptions: { ...MARSHALL },
    unmarshallOptions: { ...UNMARSHALL },
  });
  return new DynamoClients(ddb, doc, new DynamoDBClient({ ...common, cacheMiddleware: true }));
}
