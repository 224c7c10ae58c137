/**
 * The ratchet message envelope (spec/protocol.md §8): a 56-byte header — version, kind,
 * direction, content type, ratchet public key, PN, N, the random AES-GCM nonce — followed
 * by the AES-256-GCM ciphertext and tag. The whole header is authenticated as associated
 * data (§9).
 */

import { GCM_NONCE_BYTES, GCM_TAG_BYTES } from './aes-gcm.js';
import { ByteReader, ByteWriter, expectBytes } from './bytes.js';
import { fail } from './errors.js';
import {
  CONTENT_CONTROL,
  CONTENT_PHOTO,
  CONTENT_SYNC,
  CONTENT_TEXT,
  type ContentType,
  DIRECTION_INITIATOR_TO_RESPONDER,
  DIRECTION_RESPONDER_TO_INITIATOR,
  KIND_INITIAL,
  KIND_RATCHET,
  WIRE_VERSION,
  X25519_BYTES,
} from './protocol-constants.js';
import { MAX_PLAINTEXT_BYTES } from './session-limits.js';

/** Bytes of the ratchet header H (spec §8). */
export const RATCHET_HEADER_BYTES = 56;
export type Direction = 'initiator-to-responder' | 'responder-to-initiator';

export interface RatchetHeader {
  direction: Direction;
  contentType: ContentType;
  ratchetKey: Uint8Array;
  previousCounter: number;
  counter: number;
  /** The message's fresh random 96-bit AES-GCM nonce (spec §9). */
  nonce: Uint8Array;
}

/** A ratchet message envelope (spec §8) parsed: its header, the header's bytes, the ciphertext. */
export interface RatchetEnvelope {
  header: RatchetHeader;
  /** The 56 header bytes exactly as received: they go into the AEAD associated data. */
  headerBytes: Uint8Array;
  ciphertext: Uint8Array;
}

const CONTENT_FROM_BYTE: Readonly<Record<number, ContentType>> = {
  [CONTENT_TEXT]: 'text',
  [CONTENT_PHOTO]: 'photo',
  [CONTENT_CONTROL]: 'control',
  [CONTENT_SYNC]: 'sync',
};
const CONTENT_TO_BYTE: Readonly<Record<ContentType, number>> = {
  text: CONTENT_TEXT,
  photo: CONTENT_PHOTO,
  control: CONTENT_CONTROL,
  sync: CONTENT_SYNC,
};

export function encodeHeader(h: RatchetHeader): Uint8Array {
  return new ByteWriter()
    .u8(WIRE_VERSION)
    .u8(KIND_RATCHET)
    .u8(
      h.direction === 'initiator-to-responder'
        ? DIRECTION_INITIATOR_TO_RESPONDER
        : DIRECTION_RESPONDER_TO_INITIATOR,
    )
    .u8(CONTENT_TO_BYTE[h.contentType])
    .fixed(h.ratchetKey, X25519_BYTES, 'ratchet key')
    .u32(h.previousCounter)
    .u32(h.counter)
    .fixed(h.nonce, GCM_NONCE_BYTES, 'nonce')
    .finish();
}

/**
 * Reads the first two bytes of a wire message (spec §6, §8): which message it is.
 * Throws UNSUPPORTED_VERSION or BAD_FORMAT.
 */
export function wireKind(bytes: Uint8Array): 'initial' | 'ratchet' {
  const r = new ByteReader(expectBytes(bytes, 'message'), 'message');
  const version = r.u8('version');
  if (version !== WIRE_VERSION) fail('UNSUPPORTED_VERSION', `message version ${version} is not supported`);
  const kind = r.u8('kind');
  if (kind === KIND_INITIAL) return 'initial';
  if (kind === KIND_RATCHET) return 'ratchet';
  return fail('BAD_FORMAT', `message kind ${kind} is unknown`);
}

/** Parses an envelope strictly (spec §8). */
export function decodeEnvelope(bytes: Uint8Array): RatchetEnvelope {
  if (wireKind(bytes) !== 'ratchet') fail('BAD_FORMAT', 'not a ratchet message');
  const r = new ByteReader(bytes, 'ratchet message');
  r.u8('version');
  r.u8('kind');
  const dirByte = r.u8('direction');
  if (dirByte !== DIRECTION_INITIATOR_TO_RESPONDER && dirByte !== DIRECTION_RESPONDER_TO_INITIATOR)
    fail('BAD_FORMAT', `ratchet message: direction ${dirByte} is unknown`);
  const contentType = CONTENT_FROM_BYTE[r.u8('content type')];
  if (contentType === undefined) fail('BAD_FORMAT', 'ratchet message: content type is unknown');
  const ratchetKey = r.fixed(X25519_BYTES, 'ratchet key');
  const previousCounter = r.u32('previous chain length');
  const counter = r.u32('message number');
  const nonce = r.fixed(GCM_NONCE_BYTES, 'nonce');
  const ciphertext = r.rest('ciphertext');
  if (ciphertext.length < GCM_TAG_BYTES)
    fail('BAD_FORMAT', 'ratchet message: ciphertext shorter than its tag');
  if (ciphertext.length > MAX_PLAINTEXT_BYTES + GCM_TAG_BYTES)
    fail('BAD_FORMAT', 'ratchet message: ciphertext longer than the limit');
  return {
    header: {
      direction:
        dirByte === DIRECTION_INITIATOR_TO_RESPONDER ? 'initiator-to-responder' : 'responder-to-initiator',
      contentType,
      ratchetKey,
      previousCounter,
      counter,
      nonce,
    },
    headerBytes: bytes.slice(0, RATCHET_HEADER_BYTES),
    ciphertext,
  };
}
