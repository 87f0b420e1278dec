// One Jest run, two projects: unit specs beside the code, e2e specs in test/.
// DynamoDB Local is started once per run (in memory, free port) by the global setup.
const moduleNameMapper = {
  // Every e2e response is checked against openapi.json (test/support/contract.ts).
  '^supertest$': '<rootDir>/test/support/validating-supertest.ts',
  '^@app/(.*)$': '<rootDir>/apps/api/src/$1',
  '^@lib/(config|dynamo|tenancy|auth|observability)$': '<rootDir>/libs/$1/src',
  '^@lib/(config|dynamo|tenancy|auth|observability)/(.*)$': '<rootDir>/libs/$1/src/$2',
};
const transform = {
  '^.+\\.(t|j|mj)s$': [
    '@swc/jest',
    {
      jsc: {
        parser: { syntax: 'typescript', decorators: true },
        transform: { legacyDecorator: true, decoratorMetadata: true },
        target: 'es2022',
      },
      module: { type: 'commonjs' },
    },
  ],
};
// @fastify/static 10 pulls in ESM-only packages; let swc transform them for Jest on Node 20.
const transformIgnorePatterns = ['/node_modules/(?!(content-disposition|@fastify/static)/)'];
const common = { rootDir: __dirname, moduleNameMapper, transform, transformIgnorePatterns, testEnvironment: 'node' };

module.exports = {
  globalSetup: '<rootDir>/test/setup/global-setup.ts',
  globalTeardown: '<rootDir>/test/setup/global-teardown.ts',
  testTimeout: 60000,
  projects: [
    { ...common, displayName: 'unit', testMatch: ['<rootDir>/{apps,libs}/**/*.spec.ts'] },
    { ...common, displayName: 'e2e', testMatch: ['<rootDir>/test/**/*.e2e-spec.ts'] },
  ],
};
