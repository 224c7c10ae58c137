/**
 * The Double Ratchet (spec/protocol.md §7–§9; Signal Double Ratchet spec §3.4–§3.5 with
 * header fields of §3.2). Works on a private deep copy of the caller's state and returns
 * it only when the operation succeeds, so a failed decryption leaves the caller's state
 * exactly as it was (§7.6). Knows nothing of the handshake or wire prefixes.
 */
import { type AesGcm, GCM_NONCE_BYTES } from './aes-gcm.js';
import { concat, wipe } from './bytes.js';
import { bytesEqual } from './bytes-equal.js';
import { type Clock, type RandomSource, systemRandom } from './deps.js';
import { dhWith, generateX25519With } from './dh.js';
import { type Direction, encodeHeader, type RatchetEnvelope, type RatchetHeader } from './envelope.js';
import { fail } from './errors.js';
import type { ContentType } from './protocol-constants.js';
import { draw } from './random-draw.js';
import { kdfChain, kdfRoot, messageCipherKey } from './ratchet-kdf.js';
import {
  MAX_MESSAGE_NUMBER,
  MAX_PLAINTEXT_BYTES,
  MAX_PREVIOUS_CHAINS,
  MAX_SKIP,
  MAX_SKIPPED_KEY_AGE_MS,
  MAX_SKIPPED_KEYS,
} from './session-limits.js';
import type { SessionState, SkippedKey } from './session-state.js';
import { defaultX25519, type X25519Backend } from './x25519-backend.js';

export interface RatchetDeps {
  random: RandomSource;
  clock: Clock;
  aead: AesGcm;
  /** X25519 for DH ratchet steps; the runtime's best (defaultX25519) when absent. */
  x25519?: X25519Backend | undefined;
}

export function sendingDirection(s: SessionState): Direction {
  return s.role === 'initiator' ? 'initiator-to-responder' : 'responder-to-initiator';
}

/**
 * Advances the sending chain of `s` (a private copy) by one message and returns the
 * message key, the header and the header's nonce. The caller encrypts with them.
 *
 * The nonce is 12 fresh random bytes (spec §9), never derived from the chain: if the
 * caller's stored state is rolled back (a crash before a relaxed write, a restored backup,
 * two tabs), the same `mk` may be used again, but with another nonce — so AES-GCM never
 * sees a (key, nonce) pair twice with two plaintexts (NIST SP 800-38D §8.2.2).
 */
export function nextSendingKey(
  s: SessionState,
  contentType: ContentType,
  random: RandomSource,
): { messageKey: Uint8Array; headerBytes: Uint8Array; nonce: Uint8Array } {
  const chain = s.sendingChain;
  if (chain === null) return fail('BAD_STATE', 'session has no sending chain');
  if (chain.counter > MAX_MESSAGE_NUMBER) fail('BAD_STATE', 'sending chain is exhausted');
  const nonce = draw(random, GCM_NONCE_BYTES);
  const { messageKey, chainKey } = kdfChain(chain.chainKey);
  const header: RatchetHeader = {
    direction: sendingDirection(s),
    contentType,
    ratchetKey: s.sendingRatchet.publicKey,
    previousCounter: s.previousCounter,
    counter: chain.counter,
    nonce,
  };
  wipe(chain.chainKey);
  chain.chainKey = chainKey;
  chain.counter += 1;
  return { messageKey, headerBytes: encodeHeader(header), nonce };
}

/** AEAD-encrypts a frame: key from §9, the header's nonce, AD = session AD ‖ header. */
export async function sealWithMessageKey(
  s: SessionState,
  messageKey: Uint8Array,
  headerBytes: Uint8Array,
  nonce: Uint8Array,
  plaintext: Uint8Array,
  aead: AesGcm,
): Promise<Uint8Array> {
  if (plaintext.length > MAX_PLAINTEXT_BYTES)
    fail('BAD_LENGTH', `plaintext longer than ${MAX_PLAINTEXT_BYTES} bytes`);
  const key = messageCipherKey(messageKey);
  const ct = await aead.encrypt(key, nonce, plaintext, concat(s.associatedData, headerBytes));
  wipe(key);
  return concat(headerBytes, ct);
}

function skipTo(s: SessionState, until: number, now: number): void {
  const chain = s.receivingChain;
  if (chain === null || s.remoteRatchetKey === null) return;
  if (until - chain.counter > MAX_SKIP) fail('TOO_MANY_SKIPPED', `message skips more than ${MAX_SKIP} keys`);
  while (chain.counter < until) {
    const { messageKey, chainKey } = kdfChain(chain.chainKey);
    s.skippedKeys.push({
      ratchetKey: s.remoteRatchetKey.slice(),
      counter: chain.counter,
      messageKey,
      storedAt: now,
    });
    wipe(chain.chainKey);
    chain.chainKey = chainKey;
    chain.counter += 1;
  }
}

/**
 * DH ratchet step on a new remote ratchet key (Double Ratchet §3.5 DHRatchet). Resolves as
 * soon as the receiving half (first DH, KDF_RK, new CKr) is in `s`, so the caller can open
 * the message meanwhile; the returned `sending` completes the step (new key pair, second
 * DH, KDF_RK, new CKs and RK) and must settle before `s` is returned to anyone.
 */
async function dhRatchet(
  s: SessionState,
  remoteKey: Uint8Array,
  random: RandomSource,
  x: X25519Backend,
): Promise<{ sending: Promise<void> }> {
  if (s.remoteRatchetKey !== null && s.receivingChain !== null) {
    s.previousChains.unshift({ ratchetKey: s.remoteRatchetKey, end: s.receivingChain.counter });
    s.previousChains.length = Math.min(s.previousChains.length, MAX_PREVIOUS_CHAINS);
  }
  s.previousCounter = s.sendingChain?.counter ?? 0;
  s.remoteRatchetKey = remoteKey.slice();
  // The two DH outputs are independent (the new key pair does not depend on the first),
  // so both run at once; the KDF chain still consumes them in §7.4 order.
  const old = s.sendingRatchet;
  // Both DHs use the same remote key: a backend that prepares keys (WebCrypto) does it once.
  const peer = x.preparePeerKey?.(remoteKey);
  const receiving = dhWith(x, old.secretKey, remoteKey, old.publicKey, peer);
  const fresh = (async () => {
    // An injected RandomSource is always honoured: the backend's own generator only replaces the system's.
    const native =
      random === systemRandom && x.freshKeyPair !== undefined
        ? await x.freshKeyPair(remoteKey, peer)
        : undefined;
    const pair = native
      ? { publicKey: native.publicKey, secretKey: native.secretKey }
      : await generateX25519With(random, x);
    // A refused or all-zero native result goes through dhWith, which decides it (BAD_KEY) as before.
    const out = native?.shared?.some((b) => b !== 0)
      ? native.shared
      : await dhWith(x, pair.secretKey, remoteKey, pair.publicKey, peer);
    return { pair, out };
  })();
  fresh.catch(() => undefined); // observed through `sending`, or abandoned if the first DH fails
  const received = await receiving;
  const recv = kdfRoot(s.rootKey, received);
  wipe(received);
  if (s.receivingChain) wipe(s.receivingChain.chainKey);
  s.receivingChain = { chainKey: recv.chainKey, counter: 0 };
  const sending = fresh.then((next) => {
    wipe(old.secretKey);
    s.sendingRatchet = next.pair;
    const send = kdfRoot(recv.rootKey, next.out);
    wipe(next.out);
    if (s.sendingChain) wipe(s.sendingChain.chainKey);
    s.sendingChain = { chainKey: send.chainKey, counter: 0 };
    wipe(s.rootKey, recv.rootKey);
    s.rootKey = send.rootKey;
  });
  sending.catch(() => undefined); // awaited by the caller unless decryption fails first
  return { sending };
}

/** Deletes skipped keys older than the age bound, then the oldest beyond the cap (§7.4 step 8, §12). */
export function pruneSkipped(s: SessionState, now: number): void {
  const fresh: SkippedKey[] = [];
  for (const k of s.skippedKeys) {
    if (now - k.storedAt > MAX_SKIPPED_KEY_AGE_MS) wipe(k.messageKey);
    else fresh.push(k);
  }
  // Stable: equal times keep insertion order, so the earliest-stored go first.
  fresh.sort((a, b) => a.storedAt - b.storedAt);
  while (fresh.length > MAX_SKIPPED_KEYS) wipe(fresh.shift()?.messageKey);
  s.skippedKeys = fresh;
}

/**
 * Finds or derives the message key for `env` on the private copy `s`, applying ratchet
 * steps and storing skipped keys, then decrypts. Throws (and the caller discards `s`)
 * on any failure.
 */
export async function ratchetDecrypt(
  s: SessionState,
  env: RatchetEnvelope,
  deps: RatchetDeps,
): Promise<{ plaintext: Uint8Array; messageKey: Uint8Array }> {
  const h = env.header;
  const now = deps.clock();
  // spec §7.4 step 1: a message in our own sending direction, or on our own ratchet key, is ours.
  if (h.direction === sendingDirection(s) || bytesEqual(h.ratchetKey, s.sendingRatchet.publicKey))
    fail('REFLECTED_MESSAGE', 'message was sent by this party');

  let messageKey: Uint8Array | undefined;
  let sending: Promise<void> | undefined;
  // Expired skipped keys go before any is looked up (spec §12): a key older than the bound must
  // not open its message just because nothing else arrived since.
  pruneSkipped(s, now);
  const idx = s.skippedKeys.findIndex(
    (k) => k.counter === h.counter && bytesEqual(k.ratchetKey, h.ratchetKey),
  );
  if (idx >= 0) {
    const [found] = s.skippedKeys.splice(idx, 1);
    messageKey = found?.messageKey;
  } else if (s.remoteRatchetKey !== null && bytesEqual(h.ratchetKey, s.remoteRatchetKey)) {
    const chain = s.receivingChain;
    if (chain === null) return fail('BAD_STATE', 'session has no receiving chain');
    if (h.counter < chain.counter) fail('DUPLICATE_MESSAGE', 'message key was already used');
    skipTo(s, h.counter, now);
  } else {
    const prev = s.previousChains.find((p) => bytesEqual(p.ratchetKey, h.ratchetKey));
    if (prev !== undefined) {
      if (h.counter < prev.end) fail('DUPLICATE_MESSAGE', 'message key was already used');
      fail('AUTH_FAILED', 'message lies beyond the announced end of a finished chain');
    }
    // Check both jumps before any DH work, so a forged header costs little.
    const recvCounter = s.receivingChain?.counter ?? 0;
    if (s.receivingChain !== null && h.previousCounter - recvCounter > MAX_SKIP)
      fail('TOO_MANY_SKIPPED', `message skips more than ${MAX_SKIP} keys`);
    if (h.counter > MAX_SKIP) fail('TOO_MANY_SKIPPED', `message skips more than ${MAX_SKIP} keys`);
    skipTo(s, h.previousCounter, now);
    ({ sending } = await dhRatchet(s, h.ratchetKey, deps.random, deps.x25519 ?? (await defaultX25519())));
    skipTo(s, h.counter, now);
  }
  if (messageKey === undefined) {
    const chain = s.receivingChain;
    if (chain === null) return fail('BAD_STATE', 'session has no receiving chain');
    const next = kdfChain(chain.chainKey);
    wipe(chain.chainKey);
    chain.chainKey = next.chainKey;
    chain.counter += 1;
    messageKey = next.messageKey;
  }
  const key = messageCipherKey(messageKey);
  let plaintext: Uint8Array;
  try {
    plaintext = await deps.aead.decrypt(
      key,
      h.nonce,
      env.ciphertext,
      concat(s.associatedData, env.headerBytes),
    );
  } finally {
    wipe(key);
  }
  await sending; // the DH step's sending half, computed while the message was opened
  pruneSkipped(s, now);
  return { plaintext, messageKey };
}
