/**
 * The prekey bundle (spec/protocol.md §4.5): what an initiator fetches to start a session.
 * Byte-exact, versioned, strictly parsed; `verifyBundle` checks both signatures, the PQ
 * prekey's under the context of the kind the bundle announces. Decoding only parses —
 * `initiateSession` always verifies before using a bundle.
 */
import { ByteReader, ByteWriter, expectBytes, expectInt } from './bytes.js';
import { assertCanonicalX25519 } from './dh.js';
import { fail } from './errors.js';
import { assertIdentityPublicKey } from './identity.js';
import {
  type OneTimePreKeyPublic,
  type PqPreKeyPublic,
  pqPreKeyContext,
  type SignedPreKeyPublic,
} from './prekeys.js';
import {
  BUNDLE_VERSION,
  ED25519_PUBLIC_BYTES,
  ED25519_SIGNATURE_BYTES,
  MLKEM768_PUBLIC_BYTES,
  PQ_KIND_LAST_RESORT,
  PQ_KIND_ONE_TIME,
  type PqPreKeyKind,
  SIG_CONTEXT_SIGNED_PREKEY,
  X25519_BYTES,
} from './protocol-constants.js';
import { prekeySignedBytes, verifyStrictValidatedKey } from './signature-check.js';

/**
 * A responder's published keys, with at most one one-time prekey.
 *
 * @example
 * const bundle: PreKeyBundle = { identityKey, signedPreKey, pqPreKey, oneTimePreKey };
 */
export interface PreKeyBundle {
  readonly identityKey: Uint8Array;
  readonly signedPreKey: SignedPreKeyPublic;
  readonly pqPreKey: PqPreKeyPublic;
  readonly oneTimePreKey?: OneTimePreKeyPublic | undefined;
}

/**
 * Size of an encoded bundle without a one-time prekey (spec §4.5).
 *
 * @example
 * if (bytes.length !== BUNDLE_BYTES_WITHOUT_OPK && bytes.length !== BUNDLE_BYTES_WITH_OPK) reject();
 */
export const BUNDLE_BYTES_WITHOUT_OPK = 1387;
/**
 * Size of an encoded bundle with a one-time prekey (spec §4.5).
 *
 * @example
 * const hasOpk = bytes.length === BUNDLE_BYTES_WITH_OPK;
 */
export const BUNDLE_BYTES_WITH_OPK = 1423;

/** The kind byte of a PQ prekey (spec §4.5, §6.1). */
export function pqKindByte(kind: PqPreKeyKind): number {
  if (kind === 'last-resort') return PQ_KIND_LAST_RESORT;
  if (kind === 'one-time') return PQ_KIND_ONE_TIME;
  return fail('BAD_TYPE', "PQ prekey kind must be 'last-resort' or 'one-time'");
}

/** The PQ prekey kind of a kind byte; any other byte is BAD_FORMAT (spec §4.5, §6.1). */
export function pqKindOf(byte: number, what: string): PqPreKeyKind {
  if (byte === PQ_KIND_LAST_RESORT) return 'last-resort';
  if (byte === PQ_KIND_ONE_TIME) return 'one-time';
  return fail('BAD_FORMAT', `${what}: PQ prekey kind ${byte} is unknown`);
}

function checkShape(bundle: PreKeyBundle): void {
  if (typeof bundle !== 'object' || bundle === null) fail('BAD_TYPE', 'bundle must be an object');
  expectBytes(bundle.identityKey, 'identity key', ED25519_PUBLIC_BYTES);
  const { signedPreKey: spk, pqPreKey: pq, oneTimePreKey: opk } = bundle;
  if (typeof spk !== 'object' || spk === null) fail('BAD_TYPE', 'signedPreKey must be an object');
  if (typeof pq !== 'object' || pq === null) fail('BAD_TYPE', 'pqPreKey must be an object');
  expectInt(spk.id, 'signed prekey id', 0, 0xffffffff);
  expectBytes(spk.publicKey, 'signed prekey', X25519_BYTES);
  expectBytes(spk.signature, 'signed prekey signature', ED25519_SIGNATURE_BYTES);
  pqKindByte(pq.kind);
  expectInt(pq.id, 'PQ prekey id', 0, 0xffffffff);
  expectBytes(pq.publicKey, 'PQ prekey', MLKEM768_PUBLIC_BYTES);
  expectBytes(pq.signature, 'PQ prekey signature', ED25519_SIGNATURE_BYTES);
  if (opk !== undefined) {
    if (typeof opk !== 'object' || opk === null) fail('BAD_TYPE', 'oneTimePreKey must be an object');
    expectInt(opk.id, 'one-time prekey id', 0, 0xffffffff);
    expectBytes(opk.publicKey, 'one-time prekey', X25519_BYTES);
  }
}

/**
 * Encodes a bundle (spec §4.5). Throws BAD_TYPE / BAD_LENGTH for a malformed object.
 *
 * @example
 * const bytes = encodeBundle({ identityKey: id.publicKey, signedPreKey, pqPreKey, oneTimePreKey });
 */
export function encodeBundle(bundle: PreKeyBundle): Uint8Array {
  checkShape(bundle);
  const w = new ByteWriter()
    .u8(BUNDLE_VERSION)
    .fixed(bundle.identityKey, ED25519_PUBLIC_BYTES)
    .u32(bundle.signedPreKey.id)
    .fixed(bundle.signedPreKey.publicKey, X25519_BYTES)
    .fixed(bundle.signedPreKey.signature, ED25519_SIGNATURE_BYTES)
    .u8(pqKindByte(bundle.pqPreKey.kind))
    .u32(bundle.pqPreKey.id)
    .fixed(bundle.pqPreKey.publicKey, MLKEM768_PUBLIC_BYTES)
    .fixed(bundle.pqPreKey.signature, ED25519_SIGNATURE_BYTES);
  if (bundle.oneTimePreKey === undefined) w.u8(0);
  else w.u8(1).u32(bundle.oneTimePreKey.id).fixed(bundle.oneTimePreKey.publicKey, X25519_BYTES);
  return w.finish();
}

/**
 * Decodes a bundle. Throws UNSUPPORTED_VERSION for another version byte (a version 1
 * bundle included) and BAD_FORMAT for anything truncated, trailing, with a PQ kind other
 * than 1 or 2 or an OPK flag other than 0 or 1. Does NOT verify
 * signatures: call {@link verifyBundle} (initiateSession does).
 *
 * @example
 * const bundle = decodeBundle(bytesFromRelay);
 */
export function decodeBundle(bytes: Uint8Array): PreKeyBundle {
  const r = new ByteReader(expectBytes(bytes, 'bundle'), 'bundle');
  const version = r.u8('version');
  if (version !== BUNDLE_VERSION) fail('UNSUPPORTED_VERSION', `bundle version ${version} is not supported`);
  const identityKey = r.fixed(ED25519_PUBLIC_BYTES, 'identity key');
  const signedPreKey = {
    id: r.u32('signed prekey id'),
    publicKey: r.fixed(X25519_BYTES, 'signed prekey'),
    signature: r.fixed(ED25519_SIGNATURE_BYTES, 'signed prekey signature'),
  };
  const pqPreKey = {
    kind: pqKindOf(r.u8('PQ prekey kind'), 'bundle'),
    id: r.u32('PQ prekey id'),
    publicKey: r.fixed(MLKEM768_PUBLIC_BYTES, 'PQ prekey'),
    signature: r.fixed(ED25519_SIGNATURE_BYTES, 'PQ prekey signature'),
  };
  const flag = r.u8('one-time prekey flag');
  if (flag > 1) fail('BAD_FORMAT', 'bundle: one-time prekey flag must be 0 or 1');
  const oneTimePreKey =
    flag === 1
      ? { id: r.u32('one-time prekey id'), publicKey: r.fixed(X25519_BYTES, 'one-time prekey') }
      : undefined;
  r.end();
  return oneTimePreKey
    ? { identityKey, signedPreKey, pqPreKey, oneTimePreKey }
    : { identityKey, signedPreKey, pqPreKey };
}

/**
 * Verifies a bundle: the identity key is a valid Ed25519 point, the X25519 prekeys are
 * canonical, and both prekey signatures verify strictly. Throws BAD_KEY or BAD_SIGNATURE.
 *
 * @example
 * verifyBundle(decodeBundle(bytes));
 */
export function verifyBundle(bundle: PreKeyBundle): void {
  checkShape(bundle);
  const ik = bundle.identityKey;
  assertIdentityPublicKey(ik); // once: the two signature checks below rely on it
  assertCanonicalX25519(bundle.signedPreKey.publicKey);
  if (bundle.oneTimePreKey !== undefined) assertCanonicalX25519(bundle.oneTimePreKey.publicKey);
  const { signedPreKey: spk, pqPreKey: pq } = bundle;
  verifyStrictValidatedKey(
    ik,
    prekeySignedBytes(SIG_CONTEXT_SIGNED_PREKEY, spk.id, spk.publicKey),
    spk.signature,
  );
  verifyStrictValidatedKey(
    ik,
    prekeySignedBytes(pqPreKeyContext(pq.kind), pq.id, pq.publicKey),
    pq.signature,
  );
}
