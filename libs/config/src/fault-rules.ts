/** Test-only DynamoDB fault injection (DYNAMODB_FAULTS), parsed here, applied by libs/dynamo. */
/** One injected fault: calls of `operation` (or every operation, `*`) fail with `error` at `rate` (0..1). */
export interface FaultRule {
  operation: string;
  error: string;
  rate: number;
}

export const FAULT_HTTP_STATUS: Record<string, number> = {
  ThrottlingException: 400,
  ProvisionedThroughputExceededException: 400,
  RequestLimitExceeded: 400,
  InternalServerError: 500,
  ServiceUnavailable: 503,
};

/** Parses `GetItem=ThrottlingException@0.5,*=InternalServerError` (rate defaults to 1). */
export function parseFaultRules(spec: string): FaultRule[] {
  return spec
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
    .map((rule) => {
      const match = /^([A-Za-z*]+)=([A-Za-z]+)(?:@(0(?:\.\d+)?|1(?:\.0+)?))?$/.exec(rule);
      if (!match || !(match[2] in FAULT_HTTP_STATUS)) {
        throw new Error(
          `bad fault rule "${rule}": use Operation=Error[@rate] with Error one of ${Object.keys(FAULT_HTTP_STATUS).join(', ')}`,
        );
      }
      return { operation: match[1], error: match[2], rate: match[3] === undefined ? 1 : Number(match[3]) };
    });
}
