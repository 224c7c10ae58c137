/**
 * An error answered as JSON {"error": code, "message": message} with `status`.
 * `extra` fields are added to the body (e.g. retry_after_seconds); `headers` are set on the response.
 * Messages are shown to clients: never put a secret, token, code or user-supplied bytes in one.
 */
export class HttpError extends Error {
  override name = 'HttpError';
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly extra: Record<string, unknown> = {},
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

export const notFound = (message = 'not found') => new HttpError(404, 'not_found', message);
export const badRequest = (message: string) => new HttpError(400, 'invalid_request', message);
export const unauthorized = (code = 'unauthorized', message = 'authentication required') =>
  new HttpError(401, code, message, {}, { 'WWW-Authenticate': 'Bearer' });
