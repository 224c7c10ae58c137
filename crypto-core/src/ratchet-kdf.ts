/**
 * The ratchet's key derivations (spec/protocol.md §7.2, §7.3, §9), as Signal's Double
 * Ratchet §5.2 recommends: KDF_RK is HKDF with the root key as salt, KDF_CK is HMAC with
 * constant inputs, and a message key is expanded by HKDF into the AEAD key. The nonce is
 * NOT derived from the message key: it is fresh and random per sealing and travels in the
 * header (§8, §9), so a rolled-back state never repeats a (key, nonce) pair.
 */
import { AES_KEY_BYTES } from './aes-gcm.js';
import { hkdfSha256, hmacSha256 } from './kdf.js';
import {
  CK_MESSAGE_KEY_BYTE,
  CK_NEXT_CHAIN_BYTE,
  INFO_MESSAGE_KEY,
  INFO_ROOT,
  KEY_BYTES,
} from './protocol-constants.js';

const ZERO_SALT = new Uint8Array(KEY_BYTES);

/** KDF_RK(rk, dh_out) = HKDF(salt = rk, ikm = dh_out, info = INFO_ROOT, 64) split 32 ‖ 32. */
export function kdfRoot(
  rootKey: Uint8Array,
  dhOut: Uint8Array,
): { rootKey: Uint8Array; chainKey: Uint8Array } {
  const okm = hkdfSha256(dhOut, rootKey, INFO_ROOT, 2 * KEY_BYTES);
  const out = { rootKey: okm.slice(0, KEY_BYTES), chainKey: okm.slice(KEY_BYTES) };
  okm.fill(0);
  return out;
}

/** KDF_CK(ck): message key = HMAC(ck, 0x01), next chain key = HMAC(ck, 0x02). */
export function kdfChain(chainKey: Uint8Array): { messageKey: Uint8Array; chainKey: Uint8Array } {
  return {
    messageKey: hmacSha256(chainKey, Uint8Array.of(CK_MESSAGE_KEY_BYTE)),
    chainKey: hmacSha256(chainKey, Uint8Array.of(CK_NEXT_CHAIN_BYTE)),
  };
}

/** The AES-256-GCM key of one message (spec §9): HKDF(0^32, mk, INFO_MESSAGE_KEY, 32). */
export function messageCipherKey(messageKey: Uint8Array): Uint8Array {
  return hkdfSha256(messageKey, ZERO_SALT, INFO_MESSAGE_KEY, AES_KEY_BYTES);
}
