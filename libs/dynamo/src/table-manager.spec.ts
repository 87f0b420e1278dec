import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { TableSpec } from './table-definitions';
import type { TableManager as TableManagerClass } from './table-manager';

/** An endpoint like DynamoDB Local: tables exist and have TTL, but PITR and tagging are unknown operations. */
function endpointWithoutPitrOrTags(isCustomEndpoint: boolean): DynamoDBClient {
  const unknown = () => Object.assign(new Error('unknown operation'), { name: 'UnknownOperationException' });
  const send = (command: { constructor: { name: string }; input: { TableName?: string } }) => {
    switch (command.constructor.name) {
      case 'DescribeTableCommand':
        return Promise.resolve({
          Table: {
            TableName: command.input.TableName,
            TableStatus: 'ACTIVE',
            TableArn: `arn:aws:dynamodb:us-east-1:000000000000:table/${command.input.TableName}`,
            DeletionProtectionEnabled: true,
          },
        });
      case 'DescribeTimeToLiveCommand':
        return Promise.resolve({ TimeToLiveDescription: { TimeToLiveStatus: 'ENABLED' } });
      default:
        return Promise.reject(unknown());
    }
  };
  return { send, config: { isCustomEndpoint } } as unknown as DynamoDBClient;
}

const spec = (name: string): TableSpec =>
  ({
    create: { TableName: name },
    ttlAttribute: 'expiresAt',
    pointInTimeRecovery: true,
    deletionProtection: true,
    tags: { app: 'chat-platform' },
  }) as unknown as TableSpec;

/** A fresh copy of the module: what it has already reported is per process. */
function freshTableManager(): typeof TableManagerClass {
  let loaded: typeof TableManagerClass | undefined;
  jest.isolateModules(() => {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    loaded = (require('./table-manager') as { TableManager: typeof TableManagerClass }).TableManager;
  });
  return loaded as typeof TableManagerClass;
}

describe('TableManager: features the endpoint lacks', () => {
  it('says so once per process, at info level on a custom endpoint such as DynamoDB Local', async () => {
    const log = { log: jest.fn(), warn: jest.fn() };
    const TableManager = freshTableManager();
    const tables = new TableManager(endpointWithoutPitrOrTags(true), log);
    const first = await tables.ensureTable(spec('chat-platform'));
    await tables.ensureTable(spec('chat-ratelimits'));
    await new TableManager(endpointWithoutPitrOrTags(true), log).ensureTable(spec('chat-t-1'));
    expect(first.skipped).toEqual(['point-in-time recovery', 'tags']);
    expect(log.warn).not.toHaveBeenCalled();
    expect(log.log).toHaveBeenCalledTimes(1);
    expect(log.log.mock.calls[0][0]).toContain('point-in-time recovery, tags');
  });

  it('warns against AWS, where a missing feature is not expected', async () => {
    const log = { log: jest.fn(), warn: jest.fn() };
    const TableManager = freshTableManager();
    await new TableManager(endpointWithoutPitrOrTags(false), log).ensureTable(spec('chat-platform'));
    expect(log.warn).toHaveBeenCalledTimes(1);
    expect(log.log).not.toHaveBeenCalled();
  });
});
