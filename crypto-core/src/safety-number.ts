/**
 * Safety numbers (spec/protocol.md §11): Signal's numeric fingerprint — per party, SHA-512
 * iterated 5,200 times over the identity public key and the username, shown as 30 digits;
 * the two halves ordered so both sides see the same 60 digits — and a versioned QR payload
 * whose comparison answers exactly 'match' or 'mismatch'.
 *
 * Follows libsignal's NumericFingerprintGenerator (rust/protocol/src/fingerprint.rs):
 * hash₁ = SHA-512(0x0000 ‖ key ‖ id ‖ key), hashᵢ₊₁ = SHA-512(hashᵢ ‖ key). Departs in the
 * QR payload only: a fixed byte layout instead of Signal's protobuf.
 *
 * What this module does not know: how identity keys are made (identity.ts) or verified.
 */

import { equalBytes } from '@noble/ciphers/utils.js';
import { sha512 } from '@noble/hashes/sha2.js';
import { ByteReader, ByteWriter, concat, expectBytes, utf8 } from './bytes.js';
import { fail } from './errors.js';

/** SHA-512 applications per party (Signal's value). */
export const FINGERPRINT_ITERATIONS = 5200;
/** The u16 that starts the hash input (Signal's fingerprint version 0). */
export const FINGERPRINT_HASH_VERSION = 0;
/** Version byte of the QR payload. */
export const SAFETY_QR_VERSION = 1;
/** Bytes of each party's fingerprint carried in the QR payload. */
export const QR_FINGERPRINT_BYTES = 32;
/** Total QR payload: version ‖ sender's fingerprint ‖ the peer's fingerprint as the sender sees it. */
export const SAFETY_QR_BYTES = 1 + 2 * QR_FINGERPRINT_BYTES;
/** Longest username in its canonical UTF-8 form. */
export const MAX_USERNAME_BYTES = 64;
/** Identity public keys are 32 bytes here (Ed25519, §4); up to 64 accepted for other encodings. */
export const MIN_IDENTITY_KEY_BYTES = 32;
/** See {@link MIN_IDENTITY_KEY_BYTES}. */
export const MAX_IDENTITY_KEY_BYTES = 64;

const DIGITS_PER_PARTY = 30;

/**
 * One side of a conversation as the fingerprint sees it.
 *
 * @example
 * const me: SafetyParty = { username: 'alice', identityKey: identity.publicKey };
 */
export interface SafetyParty {
  /** The party's username as typed or shown; normalized by {@link fingerprintCanonicalUsername}. */
  username: string;
  /** The party's identity public key bytes (spec §4). */
  identityKey: Uint8Array;
}

/**
 * What a user compares: 60 digits to read aloud and a payload to show as a QR code.
 *
 * @example
 * const { groups, qrPayload } = computeSafetyNumber(me, peer); // render qrPayload as a QR code
 */
export interface SafetyNumber {
  /** 60 decimal digits, the same on both sides. */
  digits: string;
  /** `digits` as 12 groups of 5, for display. */
  groups: string[];
  /** Bytes to render as a QR code for the other side to scan (§11.3). */
  qrPayload: Uint8Array;
}

/**
 * The canonical form of a username that the fingerprint hashes (spec §11.1) — and that the
 * handshake's account binding (§5.4) and the identity proof (§4.6) reuse: Unicode NFC, ASCII
 * letters A–Z lowercased, nothing else changed; 1–64 UTF-8 bytes with no control characters
 * or whitespace. Both sides must derive the same bytes, so any variation of case in ASCII is
 * folded. It is not the account username rule (spec/openapi.yaml, enforced by the relay),
 * which is stricter: this only guarantees that both sides hash the same bytes.
 *
 * @example
 * fingerprintCanonicalUsername('Alice_01'); // 'alice_01'
 */
export function fingerprintCanonicalUsername(username: string): string {
  if (typeof username !== 'string') fail('BAD_TYPE', 'username must be a string');
  const canonical = username.normalize('NFC').replace(/[A-Z]/g, (c) => c.toLowerCase());
  // Lone surrogates are refused too: UTF-8 encoding would turn them all into U+FFFD.
  // biome-ignore lint/suspicious/noControlCharactersInRegex: rejecting control characters is the point
  if (canonical.length === 0 || /[\u0000-\u0020\u007f-\u009f\s\p{Cs}]/u.test(canonical))
    fail('BAD_FORMAT', 'username must be non-empty, without whitespace or control characters');
  if (utf8(canonical).length > MAX_USERNAME_BYTES)
    fail('BAD_LENGTH', `username longer than ${MAX_USERNAME_BYTES} UTF-8 bytes`);
  return canonical;
}

function checkKey(identityKey: Uint8Array): Uint8Array {
  expectBytes(identityKey, 'identity key');
  if (identityKey.length < MIN_IDENTITY_KEY_BYTES || identityKey.length > MAX_IDENTITY_KEY_BYTES)
    fail('BAD_LENGTH', `identity key must be ${MIN_IDENTITY_KEY_BYTES}–${MAX_IDENTITY_KEY_BYTES} bytes`);
  return identityKey;
}

/**
 * One party's 64-byte fingerprint hash (spec §11.2), from the key and the stable identifier
 * bytes. Exposed for the known-answer test against libsignal's vectors, whose identifiers
 * are phone numbers; applications use {@link computeSafetyNumber}.
 *
 * @example
 * const fp = fingerprintHash(identityKey, utf8(fingerprintCanonicalUsername('alice')));
 */
export function fingerprintHash(identityKey: Uint8Array, stableId: Uint8Array): Uint8Array {
  checkKey(identityKey);
  expectBytes(stableId, 'stable identifier');
  if (stableId.length > MAX_USERNAME_BYTES)
    fail('BAD_LENGTH', `stable identifier longer than ${MAX_USERNAME_BYTES} bytes`);
  let hash = sha512(
    concat(new ByteWriter().u16(FINGERPRINT_HASH_VERSION).finish(), identityKey, stableId, identityKey),
  );
  const input = new Uint8Array(hash.length + identityKey.length);
  input.set(identityKey, hash.length);
  for (let i = 1; i < FINGERPRINT_ITERATIONS; i++) {
    input.set(hash, 0);
    hash = sha512(input);
  }
  return hash;
}

/**
 * 30 digits from a fingerprint: six 5-byte big-endian integers, each mod 100000, 5 digits
 * (spec §11.2).
 *
 * @example
 * fingerprintDigits(fingerprintHash(key, utf8('alice'))); // a string of 30 decimal digits
 */
export function fingerprintDigits(hash: Uint8Array): string {
  expectBytes(hash, 'fingerprint hash', 64);
  let digits = '';
  for (let i = 0; i < DIGITS_PER_PARTY / 5; i++) {
    let n = 0;
    for (let j = 0; j < 5; j++) n = n * 256 + (hash[i * 5 + j] as number); // < 2^40: exact in a double
    digits += String(n % 100_000).padStart(5, '0');
  }
  return digits;
}

function partyHash(p: SafetyParty, name: string): Uint8Array {
  if (typeof p !== 'object' || p === null) fail('BAD_TYPE', `${name} must be an object`);
  return fingerprintHash(checkKey(p.identityKey), utf8(fingerprintCanonicalUsername(p.username)));
}

/**
 * The safety number of a conversation, computed by each side with itself as `local`. Both
 * sides get the same `digits`; the QR payloads differ (each puts itself first) and
 * {@link compareSafetyQr} checks one against the other.
 *
 * @example
 * const mine = computeSafetyNumber({ username: 'alice', identityKey: aliceIk }, { username: 'bob', identityKey: bobIk });
 * show(mine.groups.join(' '));
 */
export function computeSafetyNumber(local: SafetyParty, remote: SafetyParty): SafetyNumber {
  const localHash = partyHash(local, 'local party');
  const remoteHash = partyHash(remote, 'remote party');
  const a = fingerprintDigits(localHash);
  const b = fingerprintDigits(remoteHash);
  // libsignal DisplayableFingerprint: the lexicographically smaller half first.
  const digits = a < b ? a + b : b + a;
  const qrPayload = new ByteWriter()
    .u8(SAFETY_QR_VERSION)
    .fixed(localHash.subarray(0, QR_FINGERPRINT_BYTES), QR_FINGERPRINT_BYTES)
    .fixed(remoteHash.subarray(0, QR_FINGERPRINT_BYTES), QR_FINGERPRINT_BYTES)
    .finish();
  return { digits, groups: digits.match(/\d{5}/g) ?? [], qrPayload };
}

/**
 * Compares a scanned QR payload with this side's safety number: 'match' when the scanner's
 * view of both keys equals ours (their first fingerprint is our remote one and vice versa),
 * else 'mismatch'. A payload of another version throws VERSION_MISMATCH; one that is not a
 * QR payload at all throws BAD_FORMAT. Compared in constant time.
 *
 * @example
 * if (compareSafetyQr(mine, scannedBytes) === 'match') markVerified(contact);
 */
export function compareSafetyQr(local: SafetyNumber, scanned: Uint8Array): 'match' | 'mismatch' {
  if (typeof local !== 'object' || local === null) fail('BAD_TYPE', 'local safety number must be an object');
  const mine = parseQr(expectBytes(local.qrPayload, 'local QR payload'), 'local QR payload');
  const theirs = parseQr(expectBytes(scanned, 'scanned QR payload'), 'scanned QR payload');
  // Both comparisons always run (no short circuit), as in libsignal's compare().
  const same = Number(equalBytes(theirs.first, mine.second)) & Number(equalBytes(theirs.second, mine.first));
  return same === 1 ? 'match' : 'mismatch';
}

function parseQr(bytes: Uint8Array, what: string): { first: Uint8Array; second: Uint8Array } {
  const r = new ByteReader(bytes, what);
  const version = r.u8('version');
  if (version !== SAFETY_QR_VERSION)
    fail('VERSION_MISMATCH', `${what} has version ${version}; this app speaks version ${SAFETY_QR_VERSION}`);
  const first = r.fixed(QR_FINGERPRINT_BYTES, 'first fingerprint');
  const second = r.fixed(QR_FINGERPRINT_BYTES, 'second fingerprint');
  r.end();
  return { first, second };
}
