import type { AppConfig } from '@lib/config';
import { join } from 'node:path';
import { nodeMajor, SDK_NODE_MAJOR } from './node-support';

/**
 * What a developer needs after `npm start`, in one readable block instead of log lines: where the API and its
 * docs are, the embedded database, and how to sign in as the operator. The generated password is printed only
 * on the start that generated it; later starts say where it is kept.
 */
export function developmentSummary(
  config: AppConfig,
  port: number,
  embeddedPort: number | undefined,
  env: NodeJS.ProcessEnv = process.env,
): string {
  const host = ['0.0.0.0', '::'].includes(config.host) ? 'localhost' : config.host;
  const base = `http://${host}:${port}`;
  const secretsFile = join(config.dataDir, 'dev-secrets.json');
  const { email, password } = config.bootstrapOperator;
  let operator: string;
  if (env.BOOTSTRAP_OPERATOR_PASSWORD) {
    operator = `${email}, password from BOOTSTRAP_OPERATOR_PASSWORD`;
  } else if (config.generatedNotices.length > 0) {
    operator = `${email} / ${password} (generated now and shown only this once; kept in ${secretsFile})`;
  } else {
    operator = `${email}, password in ${secretsFile} (operatorPassword)`;
  }
  const rows: [string, string][] = [
    ['API', base],
    ['docs', config.docsEnabled ? `${base}/docs (OpenAPI at ${base}/docs-json)` : 'off (DOCS_ENABLED)'],
    [
      'DynamoDB',
      embeddedPort
        ? `embedded DynamoDB Local on port ${embeddedPort}, data in ${join(config.dataDir, 'dynamodb')}`
        : `${config.dynamo.endpoint ?? `AWS ${config.dynamo.region}`} (DYNAMODB_ENDPOINT)`,
    ],
    ['bootstrap operator', `${operator}; log in with POST ${base}/v1/platform/auth/login`],
  ];
  if (nodeMajor() < SDK_NODE_MAJOR) {
    rows.push(['Node', `${process.version} works until the AWS SDK's releases of January 2027; use Node 24 or 26`]);
  }
  const width = Math.max(...rows.map(([label]) => label.length)) + 2;
  const lines = rows.map(([label, value]) => `  ${`${label}:`.padEnd(width)}${value}`);
  return `\nChat platform API ready (${config.nodeEnv})\n${lines.join('\n')}\n\n`;
}
