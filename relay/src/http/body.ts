// Per-route JSON body parsing with its own size limit (a relay of opaque blobs must not accept
// a 25 MiB JSON document on a login route). Use on each route: router.post('/x', jsonBody('2kb'), ...).
// A body that is not declared application/json is refused with 415 before it is read (RFC 9110
// §15.5.16), instead of being skipped and then failing validation as a missing object.
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import express from 'express';
import { HttpError } from './http-error.js';

export const JSON_MEDIA_TYPE = 'application/json';

export const unsupportedMediaType = () =>
  new HttpError(415, 'unsupported_media_type', `this route expects ${JSON_MEDIA_TYPE}`);

/** Every handler jsonBody made, so a test can find each JSON route in the app. */
const jsonParsers = new WeakSet<RequestHandler>();
export const isJsonBody = (handler: unknown): boolean =>
  typeof handler === 'function' && jsonParsers.has(handler as RequestHandler);

export function jsonBody(limit: string | number): RequestHandler {
  const parse = express.json({ limit, strict: true, type: JSON_MEDIA_TYPE });
  const handler = (req: Request, res: Response, next: NextFunction) => {
    // req.is matches the media type whatever its parameters (the parser checks the charset);
    // it is false or null for another type, no Content-Type, or no body: all refused alike.
    if (req.is(JSON_MEDIA_TYPE) !== JSON_MEDIA_TYPE) {
      // Discard the unread body so a keep-alive connection stays usable after the answer.
      req.resume();
      next(unsupportedMediaType());
      return;
    }
    parse(req, res, next);
  };
  jsonParsers.add(handler);
  return handler;
}
