/**
 * Imported first by the entry points (API, CLI, the OpenAPI writer), before anything loads the AWS SDK.
 *
 * The AWS SDK warns at every start on Node < 22 that its releases from the first week of January 2027 need
 * Node 22 (@aws-sdk/core emitWarningIfUnsupportedVersion). The pinned SDK works on Node 20, README says until
 * when, and a development start of the API says it once in its summary: the warning is turned off on Node 20
 * unless AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED is set. On Node 22 and later the SDK says nothing.
 */
export const SDK_NODE_MAJOR = 22;
export const nodeMajor = (): number => Number(process.versions.node.split('.')[0]);

if (nodeMajor() < SDK_NODE_MAJOR) process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
