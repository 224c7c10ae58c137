/**
 * The content frame inside every ratchet message's plaintext (spec/protocol.md §9.1):
 * `u64 sentAt ‖ u64 order ‖ body ‖ 0x80 ‖ 0x00…`, padded (ISO/IEC 7816-4) to
 * roundUp(padme(16 + |body| + 1), 160) bytes. The sender's clock and per-conversation
 * counter are encrypted and authenticated with the body, so the relay can neither re-date
 * nor reorder what the receiver shows, and lengths leak only their bucket. Parsing is
 * strict: any other padding or length is BAD_FORMAT.
 */
import { ByteReader, expectBytes, expectInt } from './bytes.js';
import { fail } from './errors.js';
import { FRAME_PREFIX_BYTES, paddedFrameLength } from './padding.js';
import { MAX_BODY_BYTES, MAX_PLAINTEXT_BYTES } from './session-limits.js';

/** The ISO/IEC 7816-4 padding marker that ends the body. */
const PAD_MARKER = 0x80;

/**
 * What a message carries besides its content type (spec §9.1).
 *
 * @example
 * const content: MessageContent = { body: utf8('hi'), sentAt: Date.now(), order: 1 };
 */
export interface MessageContent {
  /** The text, photo metadata (§10.4) or control bytes; at most MAX_BODY_BYTES. */
  body: Uint8Array;
  /** The sender's clock when sending, ms since the Unix epoch (0 … 2^53 − 1). */
  sentAt: number;
  /** The sender's per-conversation counter, from 1 (1 … 2^53 − 1). */
  order: number;
}

/** The sentAt/order pair of a photo message (its body is built by the photo callback). */
export type MessageStamp = Omit<MessageContent, 'body'>;

export function checkStamp(stamp: MessageStamp): void {
  if (typeof stamp !== 'object' || stamp === null) fail('BAD_TYPE', 'content must be an object');
  expectInt(stamp.sentAt, 'sentAt', 0, Number.MAX_SAFE_INTEGER);
  expectInt(stamp.order, 'order', 1, Number.MAX_SAFE_INTEGER);
}

/** Builds the padded frame of spec §9.1. BAD_LENGTH for a body over MAX_BODY_BYTES. */
export function encodeFrame(content: MessageContent): Uint8Array {
  checkStamp(content);
  const body = expectBytes(content.body, 'body');
  if (body.length > MAX_BODY_BYTES) fail('BAD_LENGTH', `body longer than ${MAX_BODY_BYTES} bytes`);
  const frame = new Uint8Array(paddedFrameLength(body.length));
  // u64 big-endian of safe integers (checkStamp): high and low 32-bit halves.
  const view = new DataView(frame.buffer);
  view.setUint32(0, Math.floor(content.sentAt / 0x1_0000_0000));
  view.setUint32(4, content.sentAt >>> 0);
  view.setUint32(8, Math.floor(content.order / 0x1_0000_0000));
  view.setUint32(12, content.order >>> 0);
  frame.set(body, FRAME_PREFIX_BYTES);
  frame[FRAME_PREFIX_BYTES + body.length] = PAD_MARKER;
  return frame;
}

/**
 * Parses a frame strictly (spec §9.1): its length must be exactly the padded length of
 * the body it holds, the padding `0x80 0x00…`, `order` ≥ 1; else BAD_FORMAT.
 */
export function decodeFrame(frame: Uint8Array): MessageContent {
  expectBytes(frame, 'frame');
  if (frame.length > MAX_PLAINTEXT_BYTES) fail('BAD_FORMAT', 'message frame longer than the limit');
  let end = frame.length - 1;
  while (end >= FRAME_PREFIX_BYTES && frame[end] === 0) end--;
  if (end < FRAME_PREFIX_BYTES || frame[end] !== PAD_MARKER)
    fail('BAD_FORMAT', 'message frame: padding is not 0x80 0x00…');
  const bodyLength = end - FRAME_PREFIX_BYTES;
  if (paddedFrameLength(bodyLength) !== frame.length)
    fail('BAD_FORMAT', 'message frame: length is not the padded length of its body');
  const r = new ByteReader(frame.subarray(0, FRAME_PREFIX_BYTES), 'message frame');
  const sentAt = r.u64('sentAt');
  const order = r.u64('order');
  if (order < 1) fail('BAD_FORMAT', 'message frame: order must be at least 1');
  return { body: frame.slice(FRAME_PREFIX_BYTES, end), sentAt, order };
}
