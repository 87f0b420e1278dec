import { STATUS_CODES } from 'node:http';

export interface ProblemField {
  field: string;
  message: string;
}

/** RFC 9457 problem details, as every error of the API is answered. */
export interface Problem {
  type: string;
  title: string;
  status: number;
  detail?: string;
  instance: string;
  requestId: string;
  errors?: ProblemField[];
}

export const PROBLEM_CONTENT_TYPE = 'application/problem+json';

export function problem(
  status: number,
  detail: string | undefined,
  url: string,
  requestId: string,
  errors?: ProblemField[],
): Problem {
  const body: Problem = {
    type: 'about:blank',
    title: STATUS_CODES[status] ?? 'Error',
    status,
    detail,
    instance: url.split('?')[0],
    requestId,
  };
  if (errors && errors.length > 0) body.errors = errors;
  return body;
}
