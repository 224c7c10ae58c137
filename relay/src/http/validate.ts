// Input validation at the boundary with zod: failures become 400 {"error":"invalid_request"}.
// Messages name the field and the rule, never the rejected value (it may be a code or token) —
// nor a field the schema does not know: its name is the client's text too, and a code or token
// sent under the wrong name is still one. A path element that is not a field name of ours (a
// record's key, which the client chose) is shown as "…", and the whole message is cut short.
import type { z } from 'zod';
import { HttpError } from './http-error.js';

/** The shape of our schemas' field names; an array index is a number. */
const FIELD_NAME = /^[a-z][a-z0-9_]{0,39}$/;
/** Most characters of the whole message. */
const MESSAGE_CHARS = 500;

const pathOf = (path: readonly PropertyKey[]) =>
  path
    .map((p) => (typeof p === 'number' || (typeof p === 'string' && FIELD_NAME.test(p)) ? String(p) : '…'))
    .join('.');

function describeIssue(i: z.core.$ZodIssue): string {
  const message =
    i.code === 'unrecognized_keys'
      ? `${i.keys.length} unknown field${i.keys.length === 1 ? '' : 's'}`
      : i.message;
  return i.path.length ? `${pathOf(i.path)}: ${message}` : message;
}

export function describeIssues(issues: readonly z.core.$ZodIssue[]): string {
  return issues.slice(0, 5).map(describeIssue).join('; ').slice(0, MESSAGE_CHARS);
}

/** Parses `value` with `schema` or throws HttpError 400 invalid_request. */
export function parse<S extends z.ZodType>(schema: S, value: unknown): z.output<S> {
  const result = schema.safeParse(value);
  if (!result.success) throw new HttpError(400, 'invalid_request', describeIssues(result.error.issues));
  return result.data;
}
