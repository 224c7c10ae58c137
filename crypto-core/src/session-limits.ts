/**
 * The bounds of a session (spec/protocol.md §12), each with the reason for its value.
 * They make every decryption's cost and every state's size bounded, whatever a peer or
 * the network sends.
 */

/**
 * Most message keys one received message may skip in one chain (Signal's MAX_SKIP). A
 * jump beyond it is TOO_MANY_SKIPPED. 1,000 covers any plausible loss between two
 * replies while capping the HMAC work one forged header can cause (at most two chains,
 * so 2,000 HMACs, before the AEAD check rejects it).
 *
 * @example
 * if (gap > MAX_SKIP) warn('messages were lost');
 */
export const MAX_SKIP = 1000;

/**
 * Most skipped message keys a session stores. Beyond it the oldest are evicted (as
 * libsignal's MAX_MESSAGE_KEYS = 2000 does): the state stays bounded (about 110 bytes a
 * key) and a peer can never wedge the session by making it hold too many.
 *
 * @example
 * session.skippedKeys.length <= MAX_SKIPPED_KEYS; // always true
 */
export const MAX_SKIPPED_KEYS = 2000;

/**
 * Age after which a stored skipped key is deleted (30 days). A message delayed longer
 * than that is lost; keeping keys forever would weaken forward secrecy for messages an
 * attacker suppressed on purpose.
 *
 * @example
 * const expires = storedAt + MAX_SKIPPED_KEY_AGE_MS;
 */
export const MAX_SKIPPED_KEY_AGE_MS = 30 * 24 * 60 * 60 * 1000;

/**
 * Earlier receiving chains remembered (their ratchet key and length) so that a late
 * duplicate from them is reported as DUPLICATE_MESSAGE; as libsignal's
 * MAX_RECEIVER_CHAINS = 5. Older chains are forgotten: a message on one fails AUTH_FAILED,
 * except a repeated initial message, which is recognised by its header (spec §6.3).
 *
 * @example
 * session.previousChains.length <= MAX_PREVIOUS_CHAINS; // always true
 */
export const MAX_PREVIOUS_CHAINS = 5;

/**
 * Largest plaintext of one ratchet message (60 KiB): the padded content frame of spec
 * §9.1 (sentAt, order, body, padding), always a multiple of 160 bytes. Chosen so that the
 * largest wire message — an initial message with a one-time prekey: 1,169 + 56 + 61,440 +
 * 16 = 62,681 bytes — fits the relay's default 64 KiB message limit (relay
 * MAX_MESSAGE_BYTES).
 *
 * @example
 * frame.length <= MAX_PLAINTEXT_BYTES; // always true for a frame crypto-core builds
 */
export const MAX_PLAINTEXT_BYTES = 61440;

/**
 * Largest body (text, photo metadata, control) one message carries (spec §9.1, §12): the
 * largest whose padded frame — roundUp(padme(16 + body + 1), 160) — is at most
 * MAX_PLAINTEXT_BYTES. Padmé rounds 61,440 to itself, so 61,440 − 16 − 1 = 61,423.
 *
 * @example
 * if (utf8(text).length > MAX_BODY_BYTES) tellUser('message too long');
 */
export const MAX_BODY_BYTES = MAX_PLAINTEXT_BYTES - 16 - 1;

/**
 * Largest wire message crypto-core produces (spec §12): initial header with a one-time
 * prekey (1,169) + ratchet header (56) + MAX_PLAINTEXT_BYTES + tag (16) = 62,681 bytes.
 *
 * @example
 * if (body.length > MAX_WIRE_MESSAGE_BYTES) reject(); // can never be a valid message
 */
export const MAX_WIRE_MESSAGE_BYTES = 1169 + 56 + MAX_PLAINTEXT_BYTES + 16;

/**
 * Largest message number a chain may reach (u32 on the wire).
 *
 * @example
 * header.counter <= MAX_MESSAGE_NUMBER; // u32 on the wire
 */
export const MAX_MESSAGE_NUMBER = 0xffffffff;
