/**
 * Every version byte, tag byte and domain-separation string of the handshake and the
 * ratchet (spec/protocol.md §4–§9). One place, so the spec tables and the code cannot drift.
 * Strings are ASCII and used as raw bytes (no length prefix, no terminator): each one is
 * used in exactly one role, so two roles can never share an input.
 */
import { utf8 } from './bytes.js';

/** Version byte of the prekey bundle (spec §4.5). Version 1 bundles are UNSUPPORTED_VERSION. */
export const BUNDLE_VERSION = 0x02;
/** Version byte of both wire messages: initial message (§6) and ratchet envelope (§8). */
export const WIRE_VERSION = 0x02;
/** Version byte of the session storage encoding (§7.7); distinct from the wire format. */
export const SESSION_STORAGE_VERSION = 0x02;

/** Second byte of a wire message: which of the two messages it is (§6, §8). */
export const KIND_INITIAL = 0x01;
export const KIND_RATCHET = 0x02;

/**
 * The handshake suite of an initial message (§6). 0x01 is the only one this version
 * speaks; 0x00 is reserved for "classic X3DH without a KEM" and is refused as DOWNGRADE.
 */
export const SUITE_PQXDH_X25519_MLKEM768 = 0x01;
export const SUITE_CLASSIC_X3DH_REFUSED = 0x00;

/** Direction byte of a ratchet header (§8): who sent it, relative to the handshake roles. */
export const DIRECTION_INITIATOR_TO_RESPONDER = 0x01;
export const DIRECTION_RESPONDER_TO_INITIATOR = 0x02;

/** Content-type byte of a ratchet header (§8). */
export const CONTENT_TEXT = 0x01;
export const CONTENT_PHOTO = 0x02;
export const CONTENT_CONTROL = 0x03;
/**
 * A sync copy (§8, §16.4): a message this account sent from another of its devices, sealed
 * to a sibling device. Only ever carried by a sibling session (§16.2).
 */
export const CONTENT_SYNC = 0x04;
export type ContentType = 'text' | 'photo' | 'control' | 'sync';

/**
 * Kind byte of a PQ prekey in the bundle and the initial message (§4.3, §4.5, §6.1):
 * the signed last-resort ML-KEM-768 prekey, or a one-time one (PQXDH §3.2).
 */
export const PQ_KIND_LAST_RESORT = 0x01;
export const PQ_KIND_ONE_TIME = 0x02;
export type PqPreKeyKind = 'last-resort' | 'one-time';

/**
 * Signature contexts (§4.3): prepended to what the identity key signs. The one-time and
 * last-resort ML-KEM prekeys have different contexts, so one can never pass for the other.
 */
export const SIG_CONTEXT_SIGNED_PREKEY = utf8('SecureDrop_SignedPreKey_X25519_v2');
export const SIG_CONTEXT_PQ_PREKEY = utf8('SecureDrop_SignedPreKey_ML-KEM-768_v2');
export const SIG_CONTEXT_ONE_TIME_PQ_PREKEY = utf8('SecureDrop_OneTimePreKey_ML-KEM-768_v2');

/** HKDF info of the handshake secret SK (§5.3). */
export const INFO_PQXDH = utf8('SecureDrop_PQXDH_X25519_SHA-256_ML-KEM-768_v2');
/** Prefix of the KEM binding digest carried in the associated data (§5.4). */
export const KEM_BINDING_CONTEXT = utf8('SecureDrop_PQXDH_KEM_binding_v2');
/** Prefix of the account binding digest carried in the associated data (§5.4). */
export const ACCOUNTS_BINDING_CONTEXT = utf8('SecureDrop_Accounts_v2');
/** HKDF info of KDF_RK (§7.2). */
export const INFO_ROOT = utf8('SecureDrop_Ratchet_v2');
/** HKDF info expanding a message key into the message's AES-256-GCM key (§9). */
export const INFO_MESSAGE_KEY = utf8('SecureDrop_MessageKey_v2');

/** KDF_CK constants (§7.3), as in Signal's Double Ratchet §5.2. */
export const CK_MESSAGE_KEY_BYTE = 0x01;
export const CK_NEXT_CHAIN_BYTE = 0x02;

/** Fixed sizes (bytes). */
export const ED25519_PUBLIC_BYTES = 32;
export const ED25519_SECRET_BYTES = 32;
export const ED25519_SIGNATURE_BYTES = 64;
export const X25519_BYTES = 32;
export const MLKEM768_PUBLIC_BYTES = 1184;
export const MLKEM768_SECRET_BYTES = 2400;
export const MLKEM768_CIPHERTEXT_BYTES = 1088;
export const MLKEM768_KEYGEN_SEED_BYTES = 64;
export const MLKEM768_ENCAPS_RANDOM_BYTES = 32;
export const KEY_BYTES = 32;
/** The session AD of §5.4: IK_A ‖ IK_B ‖ KEM binding digest ‖ account binding digest. */
export const ASSOCIATED_DATA_BYTES = 128;
