export * from './dynamodb-local';
