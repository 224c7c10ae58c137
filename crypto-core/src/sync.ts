/**
 * Sync copies (spec/protocol.md §16.4): when a device of an account sends a message to a
 * peer, each of the account's other devices gets a copy, sealed over a sibling session
 * (§16.2) as a ratchet message of content type `sync` (§8). Its body names the peer and
 * carries the original message's content type and body; the frame's sentAt/order (§9.1)
 * are those of the original. Parsing is strict, like every other encoding (§3).
 *
 * @example
 * const body = encodeSync({ peer: 'bob', contentType: 'text', body: utf8('hi') });
 * await encryptMessage(siblingSession, 'sync', { body, sentAt, order });
 * // on the sibling: const { peer, contentType, body } = decodeSync(decrypted.body);
 */
import { ByteReader, ByteWriter, expectBytes, fromUtf8, utf8 } from './bytes.js';
import { fail } from './errors.js';
import { decodePhotoMetadata } from './photo-metadata.js';
import { CONTENT_PHOTO, CONTENT_TEXT } from './protocol-constants.js';
import { fingerprintCanonicalUsername, MAX_USERNAME_BYTES } from './safety-number.js';
import { MAX_BODY_BYTES } from './session-limits.js';

/** Version byte of the sync body (spec §16.4). */
export const SYNC_VERSION = 0x01;
/** Bytes of a sync body besides the peer name and the inner body: version, name length, inner type. */
export const SYNC_OVERHEAD_BYTES = 3;
/**
 * The largest inner body a sync copy can carry whatever the peer's name (64 bytes):
 * MAX_BODY_BYTES − 3 − 64 = 61,356. A client with linked devices keeps every message body
 * at or below it, so its sync copy always fits a frame (§12).
 */
export const MAX_SYNCABLE_BODY_BYTES = MAX_BODY_BYTES - SYNC_OVERHEAD_BYTES - MAX_USERNAME_BYTES;

/** The conversation message a sync copy repeats. */
export interface SyncMessage {
  /** The peer's canonical username (spec §11.1): the chat the message belongs to. */
  peer: string;
  /** The original message's content type. */
  contentType: 'text' | 'photo';
  /** The original body: UTF-8 text, or the §10.4 photo message (with its photo key). */
  body: Uint8Array;
}

const TYPE_TO_BYTE = { text: CONTENT_TEXT, photo: CONTENT_PHOTO } as const;

/** Checks an inner body as the receiver would: text is UTF-8, a photo message parses (§10.4). */
function checkInner(contentType: 'text' | 'photo', body: Uint8Array): void {
  if (contentType === 'text') fromUtf8(body);
  else decodePhotoMetadata(body);
}

/**
 * Encodes a sync body: `u8 0x01 ‖ u8 len ‖ peer ‖ u8 inner type ‖ inner body` (spec §16.4).
 * The peer must be given in its canonical form (BAD_FORMAT otherwise), the inner body must
 * be what its type says (UTF-8 / a §10.4 photo message), and the whole at most
 * MAX_BODY_BYTES (BAD_LENGTH).
 *
 * @example
 * encodeSync({ peer: 'bob', contentType: 'text', body: utf8('hi') });
 */
export function encodeSync(message: SyncMessage): Uint8Array {
  if (typeof message !== 'object' || message === null) fail('BAD_TYPE', 'sync message must be an object');
  const { peer, contentType } = message;
  const body = expectBytes(message.body, 'sync body');
  if (contentType !== 'text' && contentType !== 'photo')
    fail('BAD_TYPE', "sync content type must be 'text' or 'photo'");
  if (fingerprintCanonicalUsername(peer) !== peer)
    fail('BAD_FORMAT', 'sync peer must be a canonical username');
  const name = utf8(peer);
  if (SYNC_OVERHEAD_BYTES + name.length + body.length > MAX_BODY_BYTES)
    fail('BAD_LENGTH', `sync body longer than ${MAX_BODY_BYTES} bytes`);
  checkInner(contentType, body);
  return new ByteWriter()
    .u8(SYNC_VERSION)
    .u8(name.length)
    .fixed(name, name.length, 'peer')
    .u8(TYPE_TO_BYTE[contentType])
    .rest(body, 'inner body')
    .finish();
}

/**
 * Decodes a sync body strictly (spec §16.4): another version is UNSUPPORTED_VERSION; a
 * name of 0 or over 64 bytes, a name that is not a canonical username (§11.1), an inner
 * type other than text/photo, text that is not UTF-8, a photo message that does not parse
 * (§10.4; a version 2 one is UNSUPPORTED_VERSION), truncation, or a body over
 * MAX_BODY_BYTES is BAD_FORMAT.
 *
 * @example
 * const { peer, contentType, body } = decodeSync(decrypted.body);
 */
export function decodeSync(bytes: Uint8Array): SyncMessage {
  expectBytes(bytes, 'sync body');
  if (bytes.length > MAX_BODY_BYTES) fail('BAD_FORMAT', 'sync body longer than the limit');
  const r = new ByteReader(bytes, 'sync body');
  const version = r.u8('version');
  if (version !== SYNC_VERSION) fail('UNSUPPORTED_VERSION', `sync body version ${version} is not supported`);
  const nameLength = r.u8('peer length');
  if (nameLength < 1 || nameLength > MAX_USERNAME_BYTES)
    fail('BAD_FORMAT', 'sync body: peer length out of range');
  const peer = fromUtf8(r.fixed(nameLength, 'peer'));
  let canonical: string;
  try {
    canonical = fingerprintCanonicalUsername(peer);
  } catch {
    return fail('BAD_FORMAT', 'sync body: peer is not a username');
  }
  if (canonical !== peer) fail('BAD_FORMAT', 'sync body: peer is not in canonical form');
  const type = r.u8('inner content type');
  const contentType = type === CONTENT_TEXT ? 'text' : type === CONTENT_PHOTO ? 'photo' : undefined;
  if (contentType === undefined)
    fail('BAD_FORMAT', `sync body: inner content type ${type} is not text or photo`);
  const body = r.rest('inner body');
  checkInner(contentType, body);
  return { peer, contentType, body };
}
