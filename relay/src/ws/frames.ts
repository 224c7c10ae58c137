// WebSocket frames (spec/openapi.yaml, GET /ws; every frame as JSON Schema in
// spec/ws-frames.schema.json, held equal to these by relay/test/ws-frames-schema.test.ts).
// Client → relay frames are parsed strictly here; relay → client frames are stream items
// (src/messages/stream.ts) plus the control and response frames below.
//
// Two kinds of client frames:
// - control frames (auth, catch_up): tiny, MAX_CLIENT_FRAME_BYTES, MAX_CLIENT_FRAMES_PER_MINUTE;
// - request frames (send, ack): the socket form of POST /send_message and POST /ack. `message`
//   and `ack` are exactly those routes' JSON bodies and are validated by the same code
//   (src/messages/service.ts); the relay answers each with one `response` frame carrying the
//   same `id`, the HTTP status and the HTTP JSON body (result or {error, message, ...}).
import { z } from 'zod';
import { MAX_CURSOR } from '../messages/stream.js';

/** Largest control frame, and any frame before authentication: a JWT (< 1 KB) plus a cursor. */
export const MAX_CLIENT_FRAME_BYTES = 4096;
/** Room around a request frame's body: `{"type":"send","id":9007199254740991,"message":…}`. */
export const FRAME_ENVELOPE_BYTES = 128;
/**
 * Control frames allowed per socket per minute. A client needs one auth frame and a catch_up
 * now and then; each catch_up costs a stream query, so a flood is cut (close 4429).
 */
export const MAX_CLIENT_FRAMES_PER_MINUTE = 30;
/**
 * Request frames a socket may have unanswered at once (beyond: close 4429). Sends are paced by
 * the same token bucket as POST /send_message; this bounds what one socket holds in memory.
 */
export const MAX_REQUESTS_IN_FLIGHT = 64;
/**
 * Bytes of request frames a socket may have unanswered, as a number of largest send frames:
 * past it the relay stops reading the socket until answers free room (no close; TCP pushes
 * back). The HTTP path holds one body per connection at a time; this holds at most four.
 */
export const MAX_IN_FLIGHT_SEND_FRAMES = 4;

const cursor = z.number().int().min(0).max(MAX_CURSOR);
/** A request frame's id, chosen by the client and echoed in its response. */
const requestId = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER);

export const ClientFrame = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('auth'), token: z.string().min(1).max(2048), cursor: cursor.optional() }),
  z.strictObject({ type: z.literal('catch_up'), cursor }),
  // The bodies are checked by the routes' own schemas (src/messages/service.ts), so that a bad
  // body gets the HTTP route's 400 answer, not a closed socket.
  z.strictObject({ type: z.literal('send'), id: requestId, message: z.unknown() }),
  z.strictObject({ type: z.literal('ack'), id: requestId, ack: z.unknown() }),
]);
export type ClientFrame = z.infer<typeof ClientFrame>;

/** Relay → client frames other than stream items (src/messages/stream.ts StreamItem). */
export type ControlFrame =
  | { type: 'ready'; cursor: number }
  | { type: 'prekeys_low'; remaining: number; remaining_pq: number }
  | { type: 'error'; error: 'not_ready'; message: string }
  | { type: 'response'; id: number; status: number; body: Record<string, unknown> };

/** Close codes (RFC 6455 §7.4.2: 4000–4999 are for applications). */
export const CLOSE = {
  goingAway: 1001,
  unsupportedData: 1003,
  tooBig: 1009,
  tryAgainLater: 1013,
  badFrame: 4400, // not JSON, or not one of the client frames
  unauthorized: 4401,
  sessionEnded: 4403,
  deviceRequired: 4409, // the session is not bound to a device yet (POST /keys first)
  authTimeout: 4408,
  tooMany: 4429, // connections per user, control frames per minute, or requests in flight
} as const;

/** Parses one text frame; null when it is not JSON or not a known frame. */
export function parseClientFrame(data: string): ClientFrame | null {
  let raw: unknown;
  try {
    raw = JSON.parse(data);
  } catch {
    return null;
  }
  const r = ClientFrame.safeParse(raw);
  if (!r.success) return null;
  // z.unknown() accepts a missing key; a request frame without its body is malformed.
  if (r.data.type === 'send' && !('message' in r.data)) return null;
  if (r.data.type === 'ack' && !('ack' in r.data)) return null;
  return r.data;
}
