/**
 * The initial message (spec/protocol.md §6): what the responder needs to run its half of
 * the handshake — IK_A, EK_A, the prekey ids (the PQ prekey named by kind and id), the
 * ML-KEM ciphertext — followed by a
 * complete ratchet envelope. The initiator sends every message in this form until the
 * first reply arrives, so the responder can start from whichever arrives first.
 */
import { pqKindByte, pqKindOf } from './bundle.js';
import { ByteReader, ByteWriter, expectBytes } from './bytes.js';
import { decodeEnvelope, type RatchetEnvelope, wireKind } from './envelope.js';
import { fail } from './errors.js';
import {
  ED25519_PUBLIC_BYTES,
  KIND_INITIAL,
  MLKEM768_CIPHERTEXT_BYTES,
  type PqPreKeyKind,
  SUITE_CLASSIC_X3DH_REFUSED,
  SUITE_PQXDH_X25519_MLKEM768,
  WIRE_VERSION,
  X25519_BYTES,
} from './protocol-constants.js';

/**
 * The handshake fields of an initial message.
 *
 * @example
 * const { signedPreKeyId, pqPreKeyId, oneTimePreKeyId }: InitialMessageHeader = parseInitialMessage(bytes);
 */
export interface InitialMessageHeader {
  /** IK_A: the initiator's Ed25519 identity public key. */
  readonly identityKey: Uint8Array;
  /** EK_A: the initiator's ephemeral X25519 public key (the session's base key). */
  readonly baseKey: Uint8Array;
  readonly signedPreKeyId: number;
  /** Which kind of PQ prekey the KEM ciphertext is for (spec §6.1). */
  readonly pqPreKeyKind: PqPreKeyKind;
  readonly pqPreKeyId: number;
  /** Absent when the bundle had no one-time prekey. */
  readonly oneTimePreKeyId?: number | undefined;
  /** The ML-KEM-768 ciphertext (1,088 bytes). */
  readonly kemCiphertext: Uint8Array;
}

export function encodeInitialHeader(h: InitialMessageHeader): Uint8Array {
  const w = new ByteWriter()
    .u8(WIRE_VERSION)
    .u8(KIND_INITIAL)
    .u8(SUITE_PQXDH_X25519_MLKEM768)
    .fixed(h.identityKey, ED25519_PUBLIC_BYTES, 'identity key')
    .fixed(h.baseKey, X25519_BYTES, 'base key')
    .u32(h.signedPreKeyId)
    .u8(pqKindByte(h.pqPreKeyKind))
    .u32(h.pqPreKeyId);
  if (h.oneTimePreKeyId === undefined) w.u8(0);
  else w.u8(1).u32(h.oneTimePreKeyId);
  return w.fixed(h.kemCiphertext, MLKEM768_CIPHERTEXT_BYTES, 'KEM ciphertext').finish();
}

export interface DecodedInitialMessage {
  header: InitialMessageHeader;
  /** The header bytes exactly as received (everything before the envelope). */
  headerBytes: Uint8Array;
  envelope: RatchetEnvelope;
}

/**
 * Parses an initial message strictly. A suite byte of 0x00 (a handshake without the
 * post-quantum KEM) is DOWNGRADE; any other unknown suite is UNSUPPORTED_VERSION.
 */
export function decodeInitialMessage(bytes: Uint8Array): DecodedInitialMessage {
  if (wireKind(expectBytes(bytes, 'message')) !== 'initial') fail('BAD_FORMAT', 'not an initial message');
  const r = new ByteReader(bytes, 'initial message');
  r.u8('version');
  r.u8('kind');
  const suite = r.u8('suite');
  if (suite === SUITE_CLASSIC_X3DH_REFUSED) fail('DOWNGRADE', 'initial message without the post-quantum KEM');
  if (suite !== SUITE_PQXDH_X25519_MLKEM768)
    fail('UNSUPPORTED_VERSION', `handshake suite ${suite} is not supported`);
  const identityKey = r.fixed(ED25519_PUBLIC_BYTES, 'identity key');
  const baseKey = r.fixed(X25519_BYTES, 'base key');
  const signedPreKeyId = r.u32('signed prekey id');
  const pqPreKeyKind = pqKindOf(r.u8('PQ prekey kind'), 'initial message');
  const pqPreKeyId = r.u32('PQ prekey id');
  const flag = r.u8('one-time prekey flag');
  if (flag > 1) fail('BAD_FORMAT', 'initial message: one-time prekey flag must be 0 or 1');
  const oneTimePreKeyId = flag === 1 ? r.u32('one-time prekey id') : undefined;
  const kemCiphertext = r.fixed(MLKEM768_CIPHERTEXT_BYTES, 'KEM ciphertext');
  const headerLength = bytes.length - r.remaining;
  const envelope = decodeEnvelope(r.rest('ratchet message'));
  const header: InitialMessageHeader = {
    identityKey,
    baseKey,
    signedPreKeyId,
    pqPreKeyKind,
    pqPreKeyId,
    kemCiphertext,
  };
  return {
    header: oneTimePreKeyId === undefined ? header : { ...header, oneTimePreKeyId },
    headerBytes: bytes.slice(0, headerLength),
    envelope,
  };
}
