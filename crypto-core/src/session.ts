/**
 * Sessions (spec/protocol.md §5–§9): start one from a bundle (initiator) or from an
 * initial message (responder), then encrypt and decrypt. Every function is pure over
 * plain data: it returns a new state and never changes the one it was given, so a
 * failure leaves the caller's state exactly as it was. Session selection (which state to
 * use for a peer) and storage are the caller's; this module knows neither.
 *
 * @example
 * const accounts = { initiator: 'alice', responder: 'bob' };
 * const { session: a } = initiateSession(alice, bundleFromRelay, accounts);
 * const { session: a2, message } = await encryptMessage(a, 'text', { body: utf8('hi'), sentAt: Date.now(), order: 1 });
 * const got = await acceptSession({ identity: bob, signedPreKey, pqPreKey, oneTimePreKey }, message,
 *   { ...accounts, isKnownBaseKey: (k) => replayLog.has(hex(k)) });
 * // got.body = 'hi', got.session is Bob's state; store got.replayRecord with it and delete
 * // the one-time prekeys got.usedOneTimePreKeyId / got.usedOneTimePqPreKeyId
 */
import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex } from '@noble/hashes/utils.js';
import { type AesGcm, defaultAesGcm } from './aes-gcm.js';
import { type PreKeyBundle, verifyBundle } from './bundle.js';
import { concat, expectBytes, expectInt, wipe } from './bytes.js';
import { bytesEqual } from './bytes-equal.js';
import { decodeFrame, encodeFrame, type MessageContent } from './content-frame.js';
import { type Clock, type RandomSource, systemClock, systemRandom } from './deps.js';
import { dh, generateX25519 } from './dh.js';
import { decodeEnvelope, wireKind } from './envelope.js';
import { fail } from './errors.js';
import { assertIdentityPublicKey, type IdentityKeyPair } from './identity.js';
import { decodeInitialMessage, encodeInitialHeader, type InitialMessageHeader } from './initial-message.js';
import type { OneTimePreKey, PqPreKey, SignedPreKey } from './prekeys.js';
import {
  type ContentType,
  ED25519_PUBLIC_BYTES,
  ED25519_SECRET_BYTES,
  MLKEM768_PUBLIC_BYTES,
  type PqPreKeyKind,
  X25519_BYTES,
} from './protocol-constants.js';
import {
  nextSendingKey,
  pruneSkipped,
  type RatchetDeps,
  ratchetDecrypt,
  sealWithMessageKey,
  sendingDirection as sendingDirectionOf,
} from './ratchet.js';
import { kdfRoot } from './ratchet-kdf.js';
import { fingerprintCanonicalUsername } from './safety-number.js';
import { assertSession, cloneSession, type SessionState } from './session-state.js';
import {
  accountBindingDigest,
  initiatorAgree,
  type ResponderSecrets,
  responderAgreeWith,
  type SessionAccounts,
} from './x3dh.js';
import { defaultX25519, type X25519Backend } from './x25519-backend.js';

export type { MessageContent, MessageStamp } from './content-frame.js';
export type { InitialMessageHeader } from './initial-message.js';
export { FRAME_BLOCK_BYTES, paddedFrameLength, padme } from './padding.js';
export type { ContentType, PqPreKeyKind } from './protocol-constants.js';
export type { SessionState } from './session-state.js';
export { accountBindingDigest, type SessionAccounts } from './x3dh.js';
export { defaultX25519, nobleX25519, webCryptoX25519, type X25519Backend } from './x25519-backend.js';

/**
 * Injected environment; every field defaults to the system one.
 *
 * @example
 * const options: SessionOptions = { random: seededRandom, clock: () => fixedTime };
 */
export interface SessionOptions {
  random?: RandomSource;
  clock?: Clock;
  aead?: AesGcm;
  /**
   * X25519 for the ratchet's DH steps and the responder's handshake DHs; default: WebCrypto
   * where it works, else noble. Both give identical bytes.
   */
  x25519?: X25519Backend;
}

function deps(o: SessionOptions | undefined): RatchetDeps {
  if (o !== undefined && (typeof o !== 'object' || o === null)) fail('BAD_TYPE', 'options must be an object');
  const random = o?.random ?? systemRandom;
  const clock = o?.clock ?? systemClock;
  const aead = o?.aead ?? defaultAesGcm();
  const x25519 = o?.x25519;
  if (typeof random !== 'function') fail('BAD_TYPE', 'options.random must be a function');
  if (typeof clock !== 'function') fail('BAD_TYPE', 'options.clock must be a function');
  if (typeof aead?.encrypt !== 'function' || typeof aead.decrypt !== 'function')
    fail('BAD_TYPE', 'options.aead must be an AesGcm');
  if (
    x25519 !== undefined &&
    (typeof x25519?.publicKey !== 'function' || typeof x25519.sharedSecret !== 'function')
  )
    fail('BAD_TYPE', 'options.x25519 must be an X25519Backend');
  // A clock reading that is not a time is BAD_TYPE, never NaN in the stored state.
  return {
    random,
    clock: () => expectInt(clock(), 'clock reading', 0, Number.MAX_SAFE_INTEGER),
    aead,
    x25519,
  };
}

/**
 * The sibling rule (spec §4.5, §16.2): a peer identity key equal to one's own is allowed
 * only when the caller names the peer as its own account (`sibling: true`, both names
 * equal); a sibling session whose peer key is not one's own is a key the relay substituted
 * for one of this account's devices. `ownKeyCode` is what an unannounced own key is:
 * BAD_KEY for a bundle, REFLECTED_MESSAGE for an initial message.
 */
function checkPeerIdentity(
  accounts: SessionAccounts,
  own: Uint8Array,
  peer: Uint8Array,
  ownKeyCode: 'BAD_KEY' | 'REFLECTED_MESSAGE',
): void {
  const sibling = accounts.sibling;
  if (sibling !== undefined && typeof sibling !== 'boolean') fail('BAD_TYPE', 'sibling must be a boolean');
  const same = bytesEqual(own, peer);
  if (sibling !== true) {
    if (same) fail(ownKeyCode, "peer identity key is this party's own (not announced as a sibling session)");
    return;
  }
  if (fingerprintCanonicalUsername(accounts.initiator) !== fingerprintCanonicalUsername(accounts.responder))
    fail('BAD_FORMAT', 'a sibling session names the same account on both sides');
  if (!same) fail('BAD_KEY', "a sibling device's identity key must be this account's own");
}

/** A session between two devices of one account (spec §16.2): both identity keys are the account's. */
export function isSiblingSession(session: SessionState): boolean {
  assertSession(session);
  return bytesEqual(session.localIdentityKey, session.remoteIdentityKey);
}

/**
 * Which content types a session carries (spec §16.2): sync copies only between sibling
 * devices, conversation messages (text, photo) only with a peer; control on both. Checked
 * when sealing (a caller's mistake) and after a message authenticated (a peer forging
 * "sent by me", or a device of this account sending a conversation message to itself).
 */
function checkContentAllowed(s: SessionState, contentType: ContentType): void {
  const sibling = bytesEqual(s.localIdentityKey, s.remoteIdentityKey);
  if (contentType === 'control') return;
  if (sibling && contentType !== 'sync')
    fail('CONTENT_NOT_ALLOWED', `a sibling session carries sync copies, not ${contentType}`);
  if (!sibling && contentType === 'sync')
    fail('CONTENT_NOT_ALLOWED', "sync copies travel only between this account's own devices");
}

function expectIdentity(identity: IdentityKeyPair): void {
  if (typeof identity !== 'object' || identity === null) fail('BAD_TYPE', 'identity must be an object');
  expectBytes(identity.publicKey, 'identity public key', ED25519_PUBLIC_BYTES);
  expectBytes(identity.secretKey, 'identity secret key', ED25519_SECRET_BYTES);
}

/**
 * Starts a session as initiator from a responder's bundle (spec §5.2). Verifies the
 * bundle first (BAD_KEY, BAD_SIGNATURE). `accounts` names both sides by their canonical
 * usernames (§5.4: `initiator` is this party, `responder` the account the bundle was
 * fetched for); they enter the AD, so a bundle republished under another account fails
 * the handshake on the real owner's side. The returned state sends initial messages (§6)
 * until the first reply arrives.
 *
 * @example
 * const { session } = initiateSession(myIdentity, decodeBundle(bytes), { initiator: 'alice', responder: 'bob' });
 */
export function initiateSession(
  identity: IdentityKeyPair,
  bundle: PreKeyBundle,
  accounts: SessionAccounts,
  options?: SessionOptions,
): { session: SessionState } {
  expectIdentity(identity);
  const accountsDigest = accountBindingDigest(accounts);
  verifyBundle(bundle);
  checkPeerIdentity(accounts, identity.publicKey, bundle.identityKey, 'BAD_KEY');
  const { random } = deps(options);
  const opk = bundle.oneTimePreKey;
  const agreed = initiatorAgree(
    identity,
    bundle.identityKey,
    bundle.signedPreKey.publicKey,
    bundle.pqPreKey.publicKey,
    opk?.publicKey,
    accountsDigest,
    random,
  );
  // Double Ratchet §3.3 RatchetInitAlice: DHr = SPK_B, first sending chain from DH(DHs, SPK_B).
  const sendingRatchet = generateX25519(random);
  const firstDh = dh(sendingRatchet.secretKey, bundle.signedPreKey.publicKey);
  const first = kdfRoot(agreed.sharedKey, firstDh);
  const header: InitialMessageHeader = {
    identityKey: identity.publicKey,
    baseKey: agreed.ephemeral.publicKey,
    signedPreKeyId: bundle.signedPreKey.id,
    pqPreKeyKind: bundle.pqPreKey.kind,
    pqPreKeyId: bundle.pqPreKey.id,
    oneTimePreKeyId: opk?.id,
    kemCiphertext: agreed.kemCiphertext,
  };
  const session: SessionState = {
    version: 2,
    role: 'initiator',
    localIdentityKey: identity.publicKey.slice(),
    remoteIdentityKey: bundle.identityKey.slice(),
    associatedData: agreed.associatedData,
    baseKey: agreed.ephemeral.publicKey.slice(),
    rootKey: first.rootKey,
    sendingRatchet,
    remoteRatchetKey: bundle.signedPreKey.publicKey.slice(),
    sendingChain: { chainKey: first.chainKey, counter: 0 },
    receivingChain: null,
    previousCounter: 0,
    previousChains: [],
    skippedKeys: [],
    pendingInitialHeader: encodeInitialHeader(header),
    initialMessageDigest: null,
  };
  wipe(agreed.sharedKey, agreed.ephemeral.secretKey, firstDh);
  return { session };
}

/**
 * The responder's private prekeys named by an initial message (see {@link parseInitialMessage}).
 *
 * @example
 * const keys: ResponderKeys = { identity, signedPreKey: spk, pqPreKey: pq, oneTimePreKey: opk };
 */
export interface ResponderKeys {
  identity: IdentityKeyPair;
  signedPreKey: SignedPreKey;
  /** The PQ prekey of the kind and id the message names (last-resort or one-time). */
  pqPreKey: PqPreKey;
  /** Required when the initial message names a one-time prekey. */
  oneTimePreKey?: OneTimePreKey | undefined;
}

/**
 * What the responder must know besides its keys (spec §5.4, §6.2): both accounts'
 * canonical usernames, and whether a base key was already accepted (the caller's durable
 * replay log, §6.3). `isKnownBaseKey` may return a promise (e.g. an IndexedDB lookup).
 *
 * @example
 * const context: AcceptContext = { initiator: 'alice', responder: 'bob', isKnownBaseKey: (k) => log.has(hex(k)) };
 */
export interface AcceptContext extends SessionAccounts {
  isKnownBaseKey: (baseKey: Uint8Array) => boolean | Promise<boolean>;
}

/**
 * What the responder records for every accepted initial message (spec §6.3): its base key
 * and the prekeys it used. The caller stores it durably in the same transaction as the new
 * session and keeps it at least as long as the signed prekey `signedPreKeyId` is held,
 * and answers `isKnownBaseKey` from these records.
 *
 * @example
 * const record: ReplayRecord = replayRecordOf(parseInitialMessage(bytes));
 */
export interface ReplayRecord {
  /** EK_A (32 bytes). */
  baseKey: Uint8Array;
  /** EK_A as lowercase hex: a ready-made storage key. */
  baseKeyHex: string;
  signedPreKeyId: number;
  pqPreKeyKind: PqPreKeyKind;
  pqPreKeyId: number;
  /** Absent when the message used no one-time X25519 prekey. */
  oneTimePreKeyId?: number;
}

/**
 * The replay record of an initial message (spec §6.3), from its parsed header.
 *
 * @example
 * const record = replayRecordOf(parseInitialMessage(bytes));
 * if (await log.has(record.baseKeyHex)) dropAsDuplicate();
 */
export function replayRecordOf(header: InitialMessageHeader): ReplayRecord {
  if (typeof header !== 'object' || header === null) fail('BAD_TYPE', 'header must be an object');
  const baseKey = expectBytes(header.baseKey, 'base key', X25519_BYTES).slice();
  const record: ReplayRecord = {
    baseKey,
    baseKeyHex: bytesToHex(baseKey),
    signedPreKeyId: header.signedPreKeyId,
    pqPreKeyKind: header.pqPreKeyKind,
    pqPreKeyId: header.pqPreKeyId,
  };
  if (header.oneTimePreKeyId !== undefined) record.oneTimePreKeyId = header.oneTimePreKeyId;
  return record;
}

/**
 * What a successful decryption yields.
 *
 * @example
 * const { session: next, contentType, body, sentAt, order }: Decrypted = await decryptMessage(session, bytes);
 */
export interface Decrypted extends MessageContent {
  /** The new state: store it and drop the old one (it still holds the used key). */
  session: SessionState;
  /**
   * Text, photo (§10.4 body), control, or sync (§16.4 body, sibling sessions only). The
   * message key never leaves crypto-core: a photo's key travels in its body (§10.1).
   */
  contentType: ContentType;
}

/**
 * What {@link acceptSession} yields besides the decryption.
 *
 * @example
 * const r: Accepted = await acceptSession(keys, bytes, context);
 */
export interface Accepted extends Decrypted {
  /** Store durably with the session, in the same transaction (spec §6.3). */
  replayRecord: ReplayRecord;
  /** The one-time X25519 prekey used: delete its secret now (spec §6.2). */
  usedOneTimePreKeyId?: number;
  /** The one-time ML-KEM prekey used: delete its secret now (spec §6.2). */
  usedOneTimePqPreKeyId?: number;
}

/**
 * Reads the handshake fields of an initial message without any secret, so the caller
 * can load the prekeys it names. Throws BAD_FORMAT, UNSUPPORTED_VERSION or DOWNGRADE.
 *
 * @example
 * const h = parseInitialMessage(bytes);
 * const keys = { identity, signedPreKey: spks[h.signedPreKeyId], pqPreKey: pqs[h.pqPreKeyId],
 *   oneTimePreKey: h.oneTimePreKeyId === undefined ? undefined : opks[h.oneTimePreKeyId] };
 */
export function parseInitialMessage(message: Uint8Array): InitialMessageHeader {
  return decodeInitialMessage(message).header;
}

/**
 * Says whether a wire message is an initial message (starts or continues a handshake) or
 * a ratchet message. Throws BAD_FORMAT or UNSUPPORTED_VERSION.
 *
 * @example
 * if (messageKind(bytes) === 'initial' && !haveSessionFor(peer)) await acceptSession(keys, bytes);
 */
export { wireKind as messageKind } from './envelope.js';

/**
 * Starts a session as responder from an initial message (spec §5.3, §6.2) and decrypts the
 * ratchet message it carries. In this order: a base key `context.isKnownBaseKey` reports
 * as already accepted is DUPLICATE_MESSAGE before any other work (§6.3); then
 * REFLECTED_MESSAGE, BAD_KEY, UNKNOWN_PREKEY when `keys` are not the ones the message
 * names, DOWNGRADE for a message without the KEM, AUTH_FAILED (also when the accounts
 * differ from the initiator's, §5.4). On success the caller MUST store `replayRecord`
 * with the session and delete the one-time prekeys `usedOneTimePreKeyId` and
 * `usedOneTimePqPreKeyId`.
 *
 * @example
 * const r = await acceptSession(keys, bytes, { initiator: 'alice', responder: 'bob', isKnownBaseKey });
 * await db.transaction(() => { saveSession(r.session); saveReplayRecord(r.replayRecord); deleteOneTime(r); });
 */
export async function acceptSession(
  keys: ResponderKeys,
  message: Uint8Array,
  context: AcceptContext,
  options?: SessionOptions,
): Promise<Accepted> {
  if (typeof keys !== 'object' || keys === null) fail('BAD_TYPE', 'keys must be an object');
  expectIdentity(keys.identity);
  if (typeof context !== 'object' || context === null) fail('BAD_TYPE', 'context must be an object');
  if (typeof context.isKnownBaseKey !== 'function')
    fail('BAD_TYPE', 'context.isKnownBaseKey must be a function');
  const accountsDigest = accountBindingDigest(context);
  const { header, headerBytes, envelope } = decodeInitialMessage(message);
  // spec §6.3: a base key accepted before is a replay, whatever became of its session.
  if ((await context.isKnownBaseKey(header.baseKey.slice())) !== false)
    fail('DUPLICATE_MESSAGE', 'initial message was already accepted (known base key)');
  checkPeerIdentity(context, keys.identity.publicKey, header.identityKey, 'REFLECTED_MESSAGE');
  assertIdentityPublicKey(header.identityKey);
  const spk = keys.signedPreKey;
  const pq = keys.pqPreKey;
  if (typeof spk !== 'object' || spk === null || spk.id !== header.signedPreKeyId)
    fail('UNKNOWN_PREKEY', 'signed prekey named by the message is not the one supplied');
  if (typeof pq !== 'object' || pq === null || pq.kind !== header.pqPreKeyKind || pq.id !== header.pqPreKeyId)
    fail('UNKNOWN_PREKEY', 'PQ prekey named by the message is not the one supplied (already used?)');
  let opkSecret: Uint8Array | undefined;
  if (header.oneTimePreKeyId !== undefined) {
    const opk = keys.oneTimePreKey;
    if (typeof opk !== 'object' || opk === null || opk.id !== header.oneTimePreKeyId)
      fail('UNKNOWN_PREKEY', 'one-time prekey named by the message is not held (already used?)');
    opkSecret = expectBytes(opk.secretKey, 'one-time prekey secret', X25519_BYTES);
  }
  expectBytes(spk.secretKey, 'signed prekey secret', X25519_BYTES);
  expectBytes(spk.publicKey, 'signed prekey', X25519_BYTES);
  const secrets: ResponderSecrets = {
    identity: keys.identity,
    signedPreKeySecret: spk.secretKey,
    pqPreKeyPublic: expectBytes(pq.publicKey, 'PQ prekey', MLKEM768_PUBLIC_BYTES),
    pqPreKeySecret: pq.secretKey,
    oneTimePreKeySecret: opkSecret,
    accountsDigest,
  };
  const d = deps(options);
  const agreed = await responderAgreeWith(
    d.x25519 ?? (await defaultX25519()),
    secrets,
    header.identityKey,
    header.baseKey,
    header.kemCiphertext,
    { signedPreKey: spk.publicKey, oneTimePreKey: keys.oneTimePreKey?.publicKey },
  );
  // Double Ratchet §3.3 RatchetInitBob: DHs = SPK_B, RK = SK, no chains yet.
  const fresh: SessionState = {
    version: 2,
    role: 'responder',
    localIdentityKey: keys.identity.publicKey.slice(),
    remoteIdentityKey: header.identityKey.slice(),
    associatedData: agreed.associatedData,
    baseKey: header.baseKey.slice(),
    rootKey: agreed.sharedKey,
    sendingRatchet: { publicKey: spk.publicKey.slice(), secretKey: spk.secretKey.slice() },
    remoteRatchetKey: null,
    sendingChain: null,
    receivingChain: null,
    previousCounter: 0,
    previousChains: [],
    skippedKeys: [],
    pendingInitialHeader: null,
    initialMessageDigest: initialMessageDigest(headerBytes, envelope.header.ratchetKey),
  };
  const { plaintext, messageKey } = await ratchetDecrypt(fresh, envelope, d);
  const out: Accepted = {
    ...opened(fresh, envelope, plaintext, messageKey),
    replayRecord: replayRecordOf(header),
  };
  if (header.oneTimePreKeyId !== undefined) out.usedOneTimePreKeyId = header.oneTimePreKeyId;
  if (header.pqPreKeyKind === 'one-time') out.usedOneTimePqPreKeyId = header.pqPreKeyId;
  return out;
}

/**
 * What a responder keeps of the initial message it accepted (spec §6.3): SHA-256 of the
 * initial header and the ratchet key of the envelope it carried — the initiator's first
 * ratchet key, which every repeat carries too (the initiator stops sending the prefix at
 * its first reply, before any DH ratchet step of its own).
 */
function initialMessageDigest(headerBytes: Uint8Array, firstRatchetKey: Uint8Array): Uint8Array {
  return sha256(concat(headerBytes, firstRatchetKey));
}

/** The decryption result of §9.1: the frame parsed strictly, the content type allowed (§16.2). */
function opened(
  session: SessionState,
  envelope: ReturnType<typeof decodeEnvelope>,
  plaintext: Uint8Array,
  messageKey: Uint8Array,
): Decrypted {
  wipe(messageKey);
  let content: MessageContent;
  try {
    checkContentAllowed(session, envelope.header.contentType);
    content = decodeFrame(plaintext);
  } finally {
    wipe(plaintext);
  }
  return { session, contentType: envelope.header.contentType, ...content };
}

function wrapForWire(s: SessionState, envelope: Uint8Array): Uint8Array {
  return s.pendingInitialHeader === null ? envelope : concat(s.pendingInitialHeader, envelope);
}

/**
 * Encrypts a message (spec §8, §9): the body, the sender's clock `sentAt` and
 * per-conversation counter `order` go into the padded content frame of §9.1. `contentType`
 * is 'text' (UTF-8), 'photo' (the §10.4 photo message, whose blob was encrypted and
 * uploaded before, under its own random key), 'control', or 'sync' (a §16.4 sync copy) —
 * sync only on a sibling session, text and photo only on a peer session
 * (CONTENT_NOT_ALLOWED, §16.2). Returns the new state and the wire message, which is an
 * initial message (§6) while the initiator has had no reply.
 *
 * @example
 * const { session: next, message } = await encryptMessage(session, 'text', { body: utf8('hello'), sentAt: Date.now(), order: 7 });
 */
export async function encryptMessage(
  session: SessionState,
  contentType: ContentType,
  content: MessageContent,
  options?: SessionOptions,
): Promise<{ session: SessionState; message: Uint8Array }> {
  assertSession(session);
  if (
    contentType !== 'text' &&
    contentType !== 'control' &&
    contentType !== 'photo' &&
    contentType !== 'sync'
  )
    fail('BAD_TYPE', "contentType must be 'text', 'photo', 'control' or 'sync'");
  checkContentAllowed(session, contentType);
  const frame = encodeFrame(content);
  const d = deps(options);
  const s = cloneSession(session);
  const { messageKey, headerBytes, nonce } = nextSendingKey(s, contentType, d.random);
  try {
    const envelope = await sealWithMessageKey(s, messageKey, headerBytes, nonce, frame, d.aead);
    return { session: s, message: wrapForWire(s, envelope) };
  } finally {
    wipe(messageKey, frame);
  }
}

/**
 * Decrypts a wire message of an existing session (spec §7.4–§7.6): a ratchet message, or
 * a repeated initial message of this same session. Transactional: on any error the
 * given `session` is untouched and still current. Errors: DUPLICATE_MESSAGE,
 * REFLECTED_MESSAGE, TOO_MANY_SKIPPED, AUTH_FAILED, SESSION_MISMATCH (an initial message
 * of another session: use acceptSession), BAD_FORMAT, UNSUPPORTED_VERSION, DOWNGRADE.
 * A repeat of this session's own initial message is DUPLICATE_MESSAGE however far the
 * session has moved on (§6.3), never AUTH_FAILED.
 *
 * @example
 * const r = await decryptMessage(session, bytes);
 * save(r.session); show(r.contentType, r.body, r.sentAt, r.order);
 */
export async function decryptMessage(
  session: SessionState,
  message: Uint8Array,
  options?: SessionOptions,
): Promise<Decrypted> {
  assertSession(session);
  expectBytes(message, 'message');
  const s = cloneSession(session);
  const d = deps(options);
  // One clock reading for the whole decryption: the expiry of skipped keys (§7.4 step 2) is
  // judged once, for the repeat check below and for the ratchet alike.
  const now = d.clock();
  let envelope: ReturnType<typeof decodeEnvelope>;
  if (wireKind(message) === 'initial') {
    const init = decodeInitialMessage(message);
    // spec §6.3, §16.2: in a sibling session both sides have the same identity key, so a
    // reflection is recognised by the base key this party itself chose.
    const sibling = bytesEqual(s.localIdentityKey, s.remoteIdentityKey);
    const ownKey = bytesEqual(init.header.identityKey, s.localIdentityKey);
    const reflected =
      ownKey && (!sibling || (s.role === 'initiator' && bytesEqual(init.header.baseKey, s.baseKey)));
    if (reflected) fail('REFLECTED_MESSAGE', 'initial message was sent by this party');
    if (s.role === 'initiator')
      fail('SESSION_MISMATCH', 'initial message for a session this party did not accept');
    if (
      !bytesEqual(init.header.baseKey, s.baseKey) ||
      !bytesEqual(init.header.identityKey, s.remoteIdentityKey)
    )
      fail('SESSION_MISMATCH', 'initial message belongs to another session');
    // spec §6.3: repeats must carry exactly the accepted handshake fields and first ratchet key.
    const h = init.envelope.header;
    if (
      s.initialMessageDigest === null ||
      !bytesEqual(initialMessageDigest(init.headerBytes, h.ratchetKey), s.initialMessageDigest)
    )
      fail('AUTH_FAILED', 'initial message fields differ from the accepted ones');
    // Once this session has moved past the initiator's first chain, a repeat whose key is
    // not stored as skipped was used, evicted or expired: DUPLICATE_MESSAGE, never a new
    // DH ratchet step that would fail AUTH_FAILED (spec §6.3). An expired skipped key counts
    // as gone (§7.4 step 2): it is deleted before any lookup, so it must not let the repeat
    // through to a DH step on a chain the session may have forgotten.
    pruneSkipped(s, now);
    const onCurrentChain = s.remoteRatchetKey !== null && bytesEqual(h.ratchetKey, s.remoteRatchetKey);
    const skipped = s.skippedKeys.some(
      (k) => k.counter === h.counter && bytesEqual(k.ratchetKey, h.ratchetKey),
    );
    if (!onCurrentChain && !skipped && h.direction !== sendingDirectionOf(s))
      fail('DUPLICATE_MESSAGE', 'repeated initial message of a finished chain');
    envelope = init.envelope;
  } else {
    envelope = decodeEnvelope(message);
  }
  const { plaintext, messageKey } = await ratchetDecrypt(s, envelope, { ...d, clock: () => now });
  // Any authentic reply proves the responder has the session: stop sending the prefix.
  s.pendingInitialHeader = null;
  return opened(s, envelope, plaintext, messageKey);
}
