/**
 * The byte encoding of a stored session (spec/protocol.md §7.7). It is a storage format,
 * distinct from the wire formats and versioned on its own, for callers that keep the
 * state as bytes (e.g. inside an encrypted store) rather than by structured clone.
 */
import { ByteReader, ByteWriter, expectBytes } from './bytes.js';
import { fail } from './errors.js';
import { ASSOCIATED_DATA_BYTES, SESSION_STORAGE_VERSION } from './protocol-constants.js';
import { MAX_PREVIOUS_CHAINS, MAX_SKIPPED_KEYS } from './session-limits.js';
import { assertSession, type ChainState, type SessionState } from './session-state.js';

const ROLE_INITIATOR = 0x01;
const ROLE_RESPONDER = 0x02;
/** Longest pending initial-message header (§6: 1,169 bytes with a one-time prekey id). */
const MAX_PENDING_HEADER = 1169;

function writeChain(w: ByteWriter, c: ChainState | null): void {
  if (c === null) w.u8(0);
  else w.u8(1).fixed(c.chainKey, 32).u64(c.counter);
}

function readFlag(r: ByteReader, field: string): boolean {
  const f = r.u8(field);
  if (f > 1) fail('BAD_FORMAT', `session: ${field} must be 0 or 1`);
  return f === 1;
}

function readChain(r: ByteReader, name: string): ChainState | null {
  return readFlag(r, `${name} flag`)
    ? { chainKey: r.fixed(32, `${name} key`), counter: r.u64(`${name} counter`) }
    : null;
}

/**
 * Encodes a session state as bytes (spec §7.7). Throws BAD_STATE for a malformed state.
 *
 * @example
 * await store.put(peerId, serializeSession(session));
 */
export function serializeSession(session: SessionState): Uint8Array {
  assertSession(session);
  const s = session;
  const w = new ByteWriter()
    .u8(SESSION_STORAGE_VERSION)
    .u8(s.role === 'initiator' ? ROLE_INITIATOR : ROLE_RESPONDER)
    .fixed(s.localIdentityKey, 32)
    .fixed(s.remoteIdentityKey, 32)
    .fixed(s.associatedData, ASSOCIATED_DATA_BYTES)
    .fixed(s.baseKey, 32)
    .fixed(s.rootKey, 32)
    .fixed(s.sendingRatchet.publicKey, 32)
    .fixed(s.sendingRatchet.secretKey, 32);
  if (s.remoteRatchetKey === null) w.u8(0);
  else w.u8(1).fixed(s.remoteRatchetKey, 32);
  writeChain(w, s.sendingChain);
  writeChain(w, s.receivingChain);
  w.u64(s.previousCounter).u8(s.previousChains.length);
  for (const p of s.previousChains) w.fixed(p.ratchetKey, 32).u64(p.end);
  w.u16(s.skippedKeys.length);
  for (const k of s.skippedKeys)
    w.fixed(k.ratchetKey, 32).u32(k.counter).fixed(k.messageKey, 32).u64(k.storedAt);
  if (s.pendingInitialHeader === null) w.u8(0);
  else w.u8(1).bytes16(s.pendingInitialHeader);
  if (s.initialMessageDigest === null) w.u8(0);
  else w.u8(1).fixed(s.initialMessageDigest, 32);
  return w.finish();
}

/**
 * Decodes bytes from {@link serializeSession}. Throws UNSUPPORTED_VERSION (a version 1
 * state included: there is no migration, spec §15), BAD_FORMAT for
 * malformed bytes and BAD_STATE for a well-formed but inconsistent state.
 *
 * @example
 * const session = deserializeSession(await store.get(peerId));
 */
export function deserializeSession(bytes: Uint8Array): SessionState {
  const r = new ByteReader(expectBytes(bytes, 'session bytes'), 'session');
  const version = r.u8('version');
  if (version !== SESSION_STORAGE_VERSION)
    fail('UNSUPPORTED_VERSION', `session version ${version} is not supported`);
  const roleByte = r.u8('role');
  if (roleByte !== ROLE_INITIATOR && roleByte !== ROLE_RESPONDER) fail('BAD_FORMAT', 'session: unknown role');
  const localIdentityKey = r.fixed(32, 'local identity key');
  const remoteIdentityKey = r.fixed(32, 'remote identity key');
  const associatedData = r.fixed(ASSOCIATED_DATA_BYTES, 'associated data');
  const baseKey = r.fixed(32, 'base key');
  const rootKey = r.fixed(32, 'root key');
  const sendingRatchet = {
    publicKey: r.fixed(32, 'sending ratchet public'),
    secretKey: r.fixed(32, 'sending ratchet secret'),
  };
  const remoteRatchetKey = readFlag(r, 'remote ratchet flag') ? r.fixed(32, 'remote ratchet key') : null;
  const sendingChain = readChain(r, 'sending chain');
  const receivingChain = readChain(r, 'receiving chain');
  const previousCounter = r.u64('previous counter');
  const nPrev = r.u8('previous chain count');
  if (nPrev > MAX_PREVIOUS_CHAINS) fail('BAD_FORMAT', 'session: too many previous chains');
  const previousChains = [];
  for (let i = 0; i < nPrev; i++)
    previousChains.push({ ratchetKey: r.fixed(32, 'previous chain key'), end: r.u64('previous chain end') });
  const nSkipped = r.u16('skipped key count');
  if (nSkipped > MAX_SKIPPED_KEYS) fail('BAD_FORMAT', 'session: too many skipped keys');
  const skippedKeys = [];
  for (let i = 0; i < nSkipped; i++)
    skippedKeys.push({
      ratchetKey: r.fixed(32, 'skipped ratchet key'),
      counter: r.u32('skipped counter'),
      messageKey: r.fixed(32, 'skipped message key'),
      storedAt: r.u64('skipped key time'),
    });
  const pendingInitialHeader = readFlag(r, 'pending header flag')
    ? r.bytes16('pending header', MAX_PENDING_HEADER)
    : null;
  const initialMessageDigest = readFlag(r, 'initial message digest flag')
    ? r.fixed(32, 'initial message digest')
    : null;
  r.end();
  const session: SessionState = {
    version: 2,
    role: roleByte === ROLE_INITIATOR ? 'initiator' : 'responder',
    localIdentityKey,
    remoteIdentityKey,
    associatedData,
    baseKey,
    rootKey,
    sendingRatchet,
    remoteRatchetKey,
    sendingChain,
    receivingChain,
    previousCounter,
    previousChains,
    skippedKeys,
    pendingInitialHeader,
    initialMessageDigest,
  };
  assertSession(session);
  return session;
}
