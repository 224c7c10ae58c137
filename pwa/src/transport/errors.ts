// Errors from the relay, typed: the relay answers every failure with {"error": "<code>",
// "message": "<text>"} (spec/openapi.yaml, components Error), over HTTP and in a WebSocket
// response frame alike; network failures get code 'network'.
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
    /**
     * 409 `stale_devices` (spec/openapi.yaml POST /send_message): the relay's CURRENT device
     * lists of the recipient and of the sender's own other devices.
     */
    readonly staleDevices?: StaleDevices,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

export interface StaleDevices {
  readonly recipient: readonly number[];
  readonly own: readonly number[];
}

const CODE = /^[a-z][a-z0-9_]{0,63}$/;

/** At most this many ids per list are read (DEVICE_LIMIT is 5): a larger list is no answer. */
const MAX_DEVICE_IDS = 16;

function idList(v: unknown): number[] | null {
  if (!Array.isArray(v) || v.length > MAX_DEVICE_IDS) return null;
  if (!v.every((x) => typeof x === 'number' && Number.isInteger(x) && x >= 1 && x <= 0x7fffffff)) return null;
  return [...new Set(v as number[])].sort((a, b) => a - b);
}

/** The `devices` of a stale_devices answer, strictly: both lists of device ids, or nothing. */
function staleDevicesOf(code: string, body: Record<string, unknown> | null): StaleDevices | undefined {
  if (code !== 'stale_devices') return undefined;
  const d = body?.devices;
  if (!d || typeof d !== 'object' || Array.isArray(d)) return undefined;
  const recipient = idList((d as Record<string, unknown>).recipient);
  const own = idList((d as Record<string, unknown>).own ?? []);
  return recipient && own ? { recipient, own } : undefined;
}

function retryAfterOf(body: Record<string, unknown> | null, header: string | null): number | undefined {
  for (const field of ['retry_after', 'retry_after_seconds']) {
    const v = body?.[field];
    if (typeof v === 'number' && Number.isFinite(v) && v >= 0) return v;
  }
  if (header && /^\d{1,9}$/.test(header)) return Number(header);
  return undefined;
}

/**
 * The ApiError for a relay error answer: an HTTP response's status and parsed JSON body, or a
 * WebSocket response frame's `status` and `body`, which carry the same answer
 * (spec/ws-frames.schema.json ResponseFrame), so both paths give the app the same error.
 */
export function apiErrorOf(
  status: number,
  body: unknown,
  fallbackMessage: string,
  retryAfterHeader: string | null = null,
): ApiError {
  const fields =
    body && typeof body === 'object' && !Array.isArray(body) ? (body as Record<string, unknown>) : null;
  const code = typeof fields?.error === 'string' && CODE.test(fields.error) ? fields.error : `http_${status}`;
  const message = typeof fields?.message === 'string' ? fields.message.slice(0, 500) : fallbackMessage;
  return new ApiError(
    status,
    code,
    message,
    retryAfterOf(fields, retryAfterHeader),
    staleDevicesOf(code, fields),
  );
}

/** Builds the ApiError for a non-2xx response (reads its body). */
export async function apiErrorFrom(response: Response): Promise<ApiError> {
  let body: unknown = null;
  try {
    body = await response.json();
  } catch {
    // Not JSON (a proxy's HTML page, an empty body): fall back to the status alone.
  }
  return apiErrorOf(response.status, body, response.statusText, response.headers.get('retry-after'));
}
