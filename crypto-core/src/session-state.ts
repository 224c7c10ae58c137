/**
 * The session state (spec/protocol.md §7.1): plain data only — Uint8Array, number,
 * string, null, arrays and plain objects — so the caller can keep it in IndexedDB by
 * structured clone or as bytes (session-codec.ts). Functions never mutate a state they
 * are given: they work on a deep copy and return it only on success (§7.6).
 */
import { expectBytes, expectInt } from './bytes.js';
import { fail } from './errors.js';
import {
  ASSOCIATED_DATA_BYTES,
  ED25519_PUBLIC_BYTES,
  KEY_BYTES,
  X25519_BYTES,
} from './protocol-constants.js';
import { MAX_PREVIOUS_CHAINS, MAX_SKIPPED_KEYS } from './session-limits.js';

/** Which side of the handshake this party was. */
export type Role = 'initiator' | 'responder';

/** A symmetric chain: its current key and the number of the next message on it. */
export interface ChainState {
  chainKey: Uint8Array;
  counter: number;
}

/** A message key kept for a message that has not arrived yet (§7.4, §12). */
export interface SkippedKey {
  ratchetKey: Uint8Array;
  counter: number;
  messageKey: Uint8Array;
  /** Clock time (ms) when it was stored; keys older than MAX_SKIPPED_KEY_AGE_MS are deleted. */
  storedAt: number;
}

/** A finished receiving chain: its ratchet key and the number of messages it had. */
export interface PreviousChain {
  ratchetKey: Uint8Array;
  end: number;
}

/**
 * One Double Ratchet session with one peer. Treat as opaque; store it whole.
 *
 * @example
 * await db.put('sessions', structuredClone(session), peerId); // or serializeSession(session)
 */
export interface SessionState {
  version: 2;
  role: Role;
  localIdentityKey: Uint8Array;
  remoteIdentityKey: Uint8Array;
  /** AD of spec §5.4 (128 bytes), prefixed to every message's associated data. */
  associatedData: Uint8Array;
  /** EK_A, the initiator's ephemeral key: names the session on both sides. */
  baseKey: Uint8Array;
  rootKey: Uint8Array;
  sendingRatchet: { publicKey: Uint8Array; secretKey: Uint8Array };
  remoteRatchetKey: Uint8Array | null;
  sendingChain: ChainState | null;
  receivingChain: ChainState | null;
  /** PN: length of the previous sending chain. */
  previousCounter: number;
  previousChains: PreviousChain[];
  skippedKeys: SkippedKey[];
  /** Initiator only: the initial-message header sent before every message until a reply. */
  pendingInitialHeader: Uint8Array | null;
  /**
   * Responder only: SHA-256(initial header ‖ the initiator's first ratchet key) of the
   * accepted initial message (spec §6.3): every repeat must match it.
   */
  initialMessageDigest: Uint8Array | null;
}

const copy = (b: Uint8Array): Uint8Array => b.slice();
const copyChain = (c: ChainState | null): ChainState | null =>
  c === null ? null : { chainKey: copy(c.chainKey), counter: c.counter };

/** A deep copy that shares no buffer with `s`. */
export function cloneSession(s: SessionState): SessionState {
  return {
    version: s.version,
    role: s.role,
    localIdentityKey: copy(s.localIdentityKey),
    remoteIdentityKey: copy(s.remoteIdentityKey),
    associatedData: copy(s.associatedData),
    baseKey: copy(s.baseKey),
    rootKey: copy(s.rootKey),
    sendingRatchet: {
      publicKey: copy(s.sendingRatchet.publicKey),
      secretKey: copy(s.sendingRatchet.secretKey),
    },
    remoteRatchetKey: s.remoteRatchetKey === null ? null : copy(s.remoteRatchetKey),
    sendingChain: copyChain(s.sendingChain),
    receivingChain: copyChain(s.receivingChain),
    previousCounter: s.previousCounter,
    previousChains: s.previousChains.map((p) => ({ ratchetKey: copy(p.ratchetKey), end: p.end })),
    skippedKeys: s.skippedKeys.map((k) => ({
      ratchetKey: copy(k.ratchetKey),
      counter: k.counter,
      messageKey: copy(k.messageKey),
      storedAt: k.storedAt,
    })),
    pendingInitialHeader: s.pendingInitialHeader === null ? null : copy(s.pendingInitialHeader),
    initialMessageDigest: s.initialMessageDigest === null ? null : copy(s.initialMessageDigest),
  };
}

/** Counters are below 2^32 on the wire; a receiving counter may reach 2^32 after the last. */
export const MAX_COUNTER = 0x1_0000_0000;

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function checkChain(c: unknown, name: string): void {
  if (c === null) return;
  if (!isObject(c)) fail('BAD_STATE', `${name} must be an object or null`);
  expectBytes(c.chainKey, `${name} key`, KEY_BYTES);
  expectInt(c.counter, `${name} counter`, 0, MAX_COUNTER);
}

/**
 * Checks that `value` has the shape and sizes of a SessionState; anything else is
 * BAD_STATE (or BAD_TYPE / BAD_LENGTH naming the field), never a crash deeper in.
 */
export function assertSession(value: unknown): asserts value is SessionState {
  try {
    if (!isObject(value)) fail('BAD_STATE', 'session must be an object');
    // A state of another protocol version (e.g. a stored version 1 state) is refused as
    // such, so the caller can tell its user plainly (spec §7.7).
    if (typeof value.version === 'number' && value.version !== 2)
      fail('UNSUPPORTED_VERSION', `session version ${value.version} is not supported`);
    if (value.version !== 2) fail('BAD_STATE', 'session version is not 2');
    if (value.role !== 'initiator' && value.role !== 'responder')
      fail('BAD_STATE', 'session role is invalid');
    expectBytes(value.localIdentityKey, 'local identity key', ED25519_PUBLIC_BYTES);
    expectBytes(value.remoteIdentityKey, 'remote identity key', ED25519_PUBLIC_BYTES);
    expectBytes(value.associatedData, 'associated data', ASSOCIATED_DATA_BYTES);
    expectBytes(value.baseKey, 'base key', X25519_BYTES);
    expectBytes(value.rootKey, 'root key', KEY_BYTES);
    const sr = value.sendingRatchet;
    if (!isObject(sr)) fail('BAD_STATE', 'sending ratchet must be an object');
    expectBytes(sr.publicKey, 'sending ratchet public key', X25519_BYTES);
    expectBytes(sr.secretKey, 'sending ratchet secret key', X25519_BYTES);
    if (value.remoteRatchetKey !== null)
      expectBytes(value.remoteRatchetKey, 'remote ratchet key', X25519_BYTES);
    checkChain(value.sendingChain, 'sending chain');
    checkChain(value.receivingChain, 'receiving chain');
    expectInt(value.previousCounter, 'previous counter', 0, MAX_COUNTER);
    const prev = value.previousChains;
    if (!Array.isArray(prev) || prev.length > MAX_PREVIOUS_CHAINS)
      fail('BAD_STATE', 'previous chains are invalid');
    for (const p of prev as unknown[]) {
      if (!isObject(p)) fail('BAD_STATE', 'previous chain must be an object');
      expectBytes(p.ratchetKey, 'previous chain key', X25519_BYTES);
      expectInt(p.end, 'previous chain end', 0, MAX_COUNTER);
    }
    const skipped = value.skippedKeys;
    if (!Array.isArray(skipped) || skipped.length > MAX_SKIPPED_KEYS)
      fail('BAD_STATE', 'skipped keys are invalid');
    for (const k of skipped as unknown[]) {
      if (!isObject(k)) fail('BAD_STATE', 'skipped key must be an object');
      expectBytes(k.ratchetKey, 'skipped ratchet key', X25519_BYTES);
      expectInt(k.counter, 'skipped counter', 0, MAX_COUNTER - 1);
      expectBytes(k.messageKey, 'skipped message key', KEY_BYTES);
      expectInt(k.storedAt, 'skipped key time', 0, Number.MAX_SAFE_INTEGER);
    }
    if (value.pendingInitialHeader !== null)
      expectBytes(value.pendingInitialHeader, 'pending initial header');
    if (value.initialMessageDigest !== null)
      expectBytes(value.initialMessageDigest, 'initial message digest', 32);
    if (
      value.role === 'initiator' ? value.initialMessageDigest !== null : value.pendingInitialHeader !== null
    )
      fail('BAD_STATE', 'session fields do not match its role');
  } catch (e) {
    if (e instanceof Error && 'code' in e && e.code !== 'BAD_STATE' && e.code !== 'UNSUPPORTED_VERSION')
      fail('BAD_STATE', `session is malformed: ${e.message}`);
    throw e;
  }
}
