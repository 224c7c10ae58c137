// Input validation at the boundary with zod: failures become 400 {"error":"invalid_request"}.
// Messages name the field and the rule, never the rejected value (it may be a code or token).
import type { z } from 'zod';
import { HttpError } from './http-error.js';

export function describeIssues(issues: readonly z.core.$ZodIssue[]): string {
  return issues
    .slice(0, 5)
    .map((i) => (i.path.length ? `${i.path.join('.')}: ${i.message}` : i.message))
    .join('; ');
}

/** Parses `value` with `schema` or throws HttpError 400 invalid_request. */
export function parse<S extends z.ZodType>(schema: S, value: unknown): z.output<S> {
  const result = schema.safeParse(value);
  if (!result.success) throw new HttpError(400, 'invalid_request', describeIssues(result.error.issues));
  return result.data;
}
