// Caps on key material. The relay cannot check formats (keys are opaque to it, spec/protocol.md
// §4), so it bounds sizes and counts: generous for the formats crypto-core uses (Ed25519 and
// X25519 keys of 32 bytes, 64-byte signatures, ML-KEM-768 keys of 1,184 bytes) and small
// enough that no upload can grow the database without bound. The per-upload counts are
// crypto-core's batch sizes themselves (one definition): the relay takes what one batch of
// the client library holds, no more.

import { MAX_ONE_TIME_PQ_PREKEY_BATCH, MAX_ONE_TIME_PREKEY_BATCH } from '@secure-drop/crypto-core/prekeys';

/** Identity and X25519 public keys: 32 bytes today; room for a type prefix or a larger curve. */
export const MAX_PUBLIC_KEY_BYTES = 64;
/** Prekey signatures: 64 bytes (Ed25519); room for a longer scheme. */
export const MAX_SIGNATURE_BYTES = 128;
/** ML-KEM-768 encapsulation key: 1,184 bytes (FIPS 203); room for a prefix, not for ML-KEM-1024 abuse. */
export const MAX_PQ_PUBLIC_KEY_BYTES = 1600;
/** One upload of one-time X25519 prekeys: one crypto-core batch (200, spec/protocol.md §12). */
export const MAX_PREKEYS_PER_UPLOAD = MAX_ONE_TIME_PREKEY_BATCH;
/** Stock held per user: enough for 500 first contacts while the owner is offline. */
export const MAX_STORED_PREKEYS = 500;
/** One upload of one-time ML-KEM-768 prekeys (spec/protocol.md §4.4): one crypto-core batch (100; ~1.3 KB each, so fewer). */
export const MAX_PQ_PREKEYS_PER_UPLOAD = MAX_ONE_TIME_PQ_PREKEY_BATCH;
/**
 * Stock of one-time ML-KEM-768 prekeys per user: 200 × ~1.3 KB ≈ 260 KB a user. Past it the
 * last-resort ML-KEM prekey serves first contacts (PQXDH's fallback), so a cap costs little.
 */
export const MAX_STORED_PQ_PREKEYS = 200;
/** Prekey ids are u32 (spec/protocol.md §4.3). */
export const MAX_KEY_ID = 0xffff_ffff;
/**
 * JSON body of POST /keys: 100 one-time ML-KEM-768 prekeys × ~1.7 KB of base64 and JSON
 * (1,184-byte key, 64-byte signature) ≈ 170 KB, 200 one-time X25519 prekeys × ~90 bytes ≈ 18 KB,
 * the signed prekeys and identity ≈ 2 KB: 256 KiB holds a full upload with room to spare.
 */
export const KEYS_BODY_LIMIT = '256kb';
