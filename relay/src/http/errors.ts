// The 404 handler and the JSON error handler; mounted LAST in src/app.ts. Bad input is a 4xx
// {"error","message"}; anything unexpected is 500 {"error":"internal"} with no detail or stack.
import type { NextFunction, Request, Response } from 'express';
import { ZodError } from 'zod';
import type { Logger } from '../logger.js';
import { HttpError } from './http-error.js';
import { describeIssues } from './validate.js';

export function notFoundHandler(_req: Request, res: Response) {
  res.status(404).json({ error: 'not_found', message: 'no such route' });
}

// body-parser / raw-body errors carry `type` and `status` (https://github.com/expressjs/body-parser#errors).
const BODY_ERRORS: Record<string, [number, string, string]> = {
  'entity.too.large': [413, 'payload_too_large', 'request body too large'],
  'entity.parse.failed': [400, 'invalid_json', 'request body is not valid JSON'],
  'encoding.unsupported': [415, 'unsupported_encoding', 'unsupported content encoding'],
  'charset.unsupported': [415, 'unsupported_charset', 'unsupported charset'],
  'request.aborted': [400, 'request_aborted', 'request aborted'],
  'request.size.invalid': [400, 'invalid_request', 'request size did not match content-length'],
  'stream.encoding.set': [500, 'internal', 'internal error'],
  'parameters.too.many': [413, 'payload_too_large', 'too many parameters'],
};

function classify(err: unknown): {
  status: number;
  body: Record<string, unknown>;
  headers?: Record<string, string>;
} {
  if (err instanceof HttpError)
    return {
      status: err.status,
      body: { error: err.code, message: err.message, ...err.extra },
      headers: err.headers,
    };
  if (err instanceof ZodError)
    return { status: 400, body: { error: 'invalid_request', message: describeIssues(err.issues) } };
  if (typeof err === 'object' && err !== null) {
    const e = err as { type?: unknown; status?: unknown; statusCode?: unknown };
    if (typeof e.type === 'string' && e.type in BODY_ERRORS) {
      const [status, error, message] = BODY_ERRORS[e.type] as [number, string, string];
      return { status, body: { error, message } };
    }
    const status =
      typeof e.status === 'number' ? e.status : typeof e.statusCode === 'number' ? e.statusCode : 0;
    // Other 4xx from Express itself (e.g. a malformed URI escape): generic text, no internals.
    if (status >= 400 && status < 500)
      return { status, body: { error: 'bad_request', message: 'bad request' } };
  }
  return { status: 500, body: { error: 'internal', message: 'internal error' } };
}

export function errorHandler(logger: Logger) {
  return (err: unknown, req: Request, res: Response, next: NextFunction) => {
    const { status, body, headers } = classify(err);
    if (status >= 500) {
      // Log the error's type and message server-side only; never request data.
      const e =
        err instanceof Error
          ? { type: err.name, message: err.message, stack: err.stack }
          : { value: 'non-error thrown' };
      (req.log ?? logger).error({ err: e }, 'unhandled error');
    }
    if (res.headersSent) {
      // Too late for a JSON answer: let Express close the connection.
      next(err);
      return;
    }
    if (headers) res.set(headers);
    // Refused before its body arrived: close the connection after the answer, or Node would
    // read (and discard) the rest of a body that may be large or never come. The close is in
    // stages, so the client still reads this answer (src/http/node-server.ts, closeInStages).
    if (!req.complete) res.set('Connection', 'close');
    res.status(status).json(body);
  };
}
