/**
 * Prekeys (spec/protocol.md §4.3–§4.4): the signed X25519 prekey, the signed ML-KEM-768
 * prekey and one-time X25519 prekeys, each with a u32 id. The identity key signs
 * `context ‖ u32(id) ‖ publicKey`, so a signature cannot be moved to another key type or
 * another id. Private records are plain data; the caller stores them and deletes a
 * one-time prekey once a session has used it.
 */
import { ml_kem768 } from '@noble/post-quantum/ml-kem.js';
import { expectBytes, expectInt } from './bytes.js';
import { type RandomSource, systemRandom } from './deps.js';
import { generateX25519 } from './dh.js';
import { type IdentityKeyPair, signWithIdentity, verifyIdentitySignature } from './identity.js';
import {
  MLKEM768_KEYGEN_SEED_BYTES,
  MLKEM768_PUBLIC_BYTES,
  SIG_CONTEXT_PQ_PREKEY,
  SIG_CONTEXT_SIGNED_PREKEY,
  X25519_BYTES,
} from './protocol-constants.js';
import { draw } from './random-draw.js';
import { prekeySignedBytes } from './signature-check.js';

/**
 * Most one-time prekeys generated in one call (spec §12): a bounded batch to upload.
 *
 * @example
 * const batch = generateOneTimePreKeys(nextId, MAX_ONE_TIME_PREKEY_BATCH);
 */
export const MAX_ONE_TIME_PREKEY_BATCH = 200;

/**
 * The published half of the signed X25519 prekey.
 *
 * @example
 * const pub: SignedPreKeyPublic = { id: spk.id, publicKey: spk.publicKey, signature: spk.signature };
 */
export interface SignedPreKeyPublic {
  readonly id: number;
  readonly publicKey: Uint8Array;
  readonly signature: Uint8Array;
}
/**
 * The signed X25519 prekey with its secret (kept on the device).
 *
 * @example
 * const spk: SignedPreKey = generateSignedPreKey(identity, 1);
 */
export interface SignedPreKey extends SignedPreKeyPublic {
  readonly secretKey: Uint8Array;
}
/**
 * The published half of the signed ML-KEM-768 prekey.
 *
 * @example
 * const pub: PqPreKeyPublic = { id: pq.id, publicKey: pq.publicKey, signature: pq.signature };
 */
export interface PqPreKeyPublic {
  readonly id: number;
  readonly publicKey: Uint8Array;
  readonly signature: Uint8Array;
}
/**
 * The signed ML-KEM-768 prekey with its 2,400-byte decapsulation key.
 *
 * @example
 * const pq: PqPreKey = generatePqPreKey(identity, 1);
 */
export interface PqPreKey extends PqPreKeyPublic {
  readonly secretKey: Uint8Array;
}
/**
 * The published half of a one-time prekey.
 *
 * @example
 * const pub: OneTimePreKeyPublic = { id: opk.id, publicKey: opk.publicKey };
 */
export interface OneTimePreKeyPublic {
  readonly id: number;
  readonly publicKey: Uint8Array;
}
/**
 * A one-time X25519 prekey with its secret.
 *
 * @example
 * const [opk]: OneTimePreKey[] = generateOneTimePreKeys(1, 1);
 */
export interface OneTimePreKey extends OneTimePreKeyPublic {
  readonly secretKey: Uint8Array;
}

/**
 * Generates and signs an X25519 prekey.
 *
 * @example
 * const spk = generateSignedPreKey(identity, 1);
 */
export function generateSignedPreKey(
  identity: IdentityKeyPair,
  id: number,
  random: RandomSource = systemRandom,
): SignedPreKey {
  expectInt(id, 'signed prekey id', 0, 0xffffffff);
  const kp = generateX25519(random);
  const signature = signWithIdentity(
    identity,
    prekeySignedBytes(SIG_CONTEXT_SIGNED_PREKEY, id, kp.publicKey),
  );
  return { id, publicKey: kp.publicKey, secretKey: kp.secretKey, signature };
}

/**
 * Generates and signs an ML-KEM-768 prekey (FIPS 203 key generation from a 64-byte seed).
 *
 * @example
 * const pqpk = generatePqPreKey(identity, 1);
 */
export function generatePqPreKey(
  identity: IdentityKeyPair,
  id: number,
  random: RandomSource = systemRandom,
): PqPreKey {
  expectInt(id, 'PQ prekey id', 0, 0xffffffff);
  const seed = draw(random, MLKEM768_KEYGEN_SEED_BYTES);
  const { publicKey, secretKey } = ml_kem768.keygen(seed);
  const signature = signWithIdentity(identity, prekeySignedBytes(SIG_CONTEXT_PQ_PREKEY, id, publicKey));
  return { id, publicKey, secretKey, signature };
}

/**
 * Generates `count` one-time prekeys with ids `firstId`, `firstId + 1`, ….
 *
 * @example
 * const opks = generateOneTimePreKeys(100, 50); // ids 100..149
 */
export function generateOneTimePreKeys(
  firstId: number,
  count: number,
  random: RandomSource = systemRandom,
): OneTimePreKey[] {
  expectInt(count, 'one-time prekey count', 1, MAX_ONE_TIME_PREKEY_BATCH);
  expectInt(firstId, 'first one-time prekey id', 0, 0xffffffff - count + 1);
  const out: OneTimePreKey[] = [];
  for (let i = 0; i < count; i++) {
    const kp = generateX25519(random);
    out.push({ id: firstId + i, publicKey: kp.publicKey, secretKey: kp.secretKey });
  }
  return out;
}

/**
 * Verifies the identity's signature on a signed X25519 prekey; throws BAD_SIGNATURE.
 *
 * @example
 * verifySignedPreKey(bundle.identityKey, bundle.signedPreKey);
 */
export function verifySignedPreKey(identityKey: Uint8Array, spk: SignedPreKeyPublic): void {
  expectInt(spk?.id, 'signed prekey id', 0, 0xffffffff);
  expectBytes(spk.publicKey, 'signed prekey', X25519_BYTES);
  verifyIdentitySignature(
    identityKey,
    prekeySignedBytes(SIG_CONTEXT_SIGNED_PREKEY, spk.id, spk.publicKey),
    spk.signature,
  );
}

/**
 * Verifies the identity's signature on an ML-KEM-768 prekey; throws BAD_SIGNATURE.
 *
 * @example
 * verifyPqPreKey(bundle.identityKey, bundle.pqPreKey);
 */
export function verifyPqPreKey(identityKey: Uint8Array, pqpk: PqPreKeyPublic): void {
  expectInt(pqpk?.id, 'PQ prekey id', 0, 0xffffffff);
  expectBytes(pqpk.publicKey, 'PQ prekey', MLKEM768_PUBLIC_BYTES);
  verifyIdentitySignature(
    identityKey,
    prekeySignedBytes(SIG_CONTEXT_PQ_PREKEY, pqpk.id, pqpk.publicKey),
    pqpk.signature,
  );
}
