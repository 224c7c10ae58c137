// Caps on key material. The relay cannot check formats (keys are opaque to it, spec/protocol.md
// §4), so it bounds sizes and counts: generous for the formats crypto-core uses (Ed25519 and
// X25519 keys of 32 bytes, 64-byte signatures, ML-KEM-768 keys of 1,184 bytes) and small
// enough that no upload can grow the database without bound.

/** Identity and X25519 public keys: 32 bytes today; room for a type prefix or a larger curve. */
export const MAX_PUBLIC_KEY_BYTES = 64;
/** Prekey signatures: 64 bytes (Ed25519); room for a longer scheme. */
export const MAX_SIGNATURE_BYTES = 128;
/** ML-KEM-768 encapsulation key: 1,184 bytes (FIPS 203); room for a prefix, not for ML-KEM-1024 abuse. */
export const MAX_PQ_PUBLIC_KEY_BYTES = 1600;
/** One upload: crypto-core generates at most 200 one-time prekeys per batch (MAX_ONE_TIME_PREKEY_BATCH). */
export const MAX_PREKEYS_PER_UPLOAD = 200;
/** Stock held per user: enough for 500 first contacts while the owner is offline. */
export const MAX_STORED_PREKEYS = 500;
/** Prekey ids are u32 (spec/protocol.md §4.3). */
export const MAX_KEY_ID = 0xffff_ffff;
/** JSON body of POST /keys: 200 prekeys × ~90 bytes of base64 and JSON, plus the signed prekeys. */
export const KEYS_BODY_LIMIT = '64kb';
