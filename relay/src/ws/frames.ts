// WebSocket frames (spec/openapi.yaml, GET /ws description). Client → relay frames are tiny
// JSON objects, parsed strictly here; relay → client frames are stream items
// (src/messages/stream.ts) plus the control frames below.
import { z } from 'zod';

/** Largest client frame: an auth frame is a JWT (< 1 KB) plus a cursor. */
export const MAX_CLIENT_FRAME_BYTES = 4096;
/**
 * Client frames allowed per socket per minute. A client needs one auth frame and a catch_up
 * now and then; each catch_up costs a stream query, so a flood is cut (close 4429).
 */
export const MAX_CLIENT_FRAMES_PER_MINUTE = 30;

const cursor = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER);

export const ClientFrame = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('auth'), token: z.string().min(1).max(2048), cursor: cursor.optional() }),
  z.strictObject({ type: z.literal('catch_up'), cursor }),
]);
export type ClientFrame = z.infer<typeof ClientFrame>;

/** Close codes (RFC 6455 §7.4.2: 4000–4999 are for applications). */
export const CLOSE = {
  goingAway: 1001,
  unsupportedData: 1003,
  tryAgainLater: 1013,
  badFrame: 4400,
  unauthorized: 4401,
  sessionEnded: 4403,
  authTimeout: 4408,
  tooMany: 4429, // connections per user, or frames per minute
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
  return r.success ? r.data : null;
}
