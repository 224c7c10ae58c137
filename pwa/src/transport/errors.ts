// Errors from the relay, typed: the relay answers every failure with
// {"error": "<code>", "message": "<text>"} (spec/openapi.yaml "Error"); network failures get code 'network'.
// The message is the relay's text; nothing the client sent is ever put into it.

export class ApiError extends Error {
  constructor(
    /** HTTP status; 0 for a network failure or an aborted request. */
    readonly status: number,
    /** The relay's machine-readable code, or 'network' / 'aborted' / 'bad_response'. */
    readonly code: string,
    message: string,
    /** Seconds to wait (Retry-After header or a retry_after / retry_after_seconds field). */
    readonly retryAfter?: number,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

const CODE = /^[a-z][a-z0-9_]{0,63}$/;

function retryAfterOf(headers: Headers, body: Record<string, unknown> | null): number | undefined {
  for (const field of ['retry_after', 'retry_after_seconds']) {
    const v = body?.[field];
    if (typeof v === 'number' && Number.isFinite(v) && v >= 0) return v;
  }
  const header = headers.get('retry-after');
  if (header && /^\d{1,9}$/.test(header)) return Number(header);
  return undefined;
}

/** Builds the ApiError for a non-2xx response (reads its body). */
export async function apiErrorFrom(response: Response): Promise<ApiError> {
  let body: Record<string, unknown> | null = null;
  try {
    const parsed: unknown = await response.json();
    if (parsed && typeof parsed === 'object' && !Array.isArray(parsed))
      body = parsed as Record<string, unknown>;
  } catch {
    // Not JSON (a proxy's HTML page, an empty body): fall back to the status alone.
  }
  const code =
    typeof body?.error === 'string' && CODE.test(body.error) ? body.error : `http_${response.status}`;
  const message = typeof body?.message === 'string' ? body.message.slice(0, 500) : response.statusText;
  return new ApiError(response.status, code, message, retryAfterOf(response.headers, body));
}
