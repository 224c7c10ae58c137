/**
 * Prekeys (spec/protocol.md §4.3–§4.4): the signed X25519 prekey, the signed last-resort
 * ML-KEM-768 prekey, signed one-time ML-KEM-768 prekeys (PQXDH §3.2) and one-time X25519
 * prekeys, each with a u32 id. The identity key signs `context ‖ u32(id) ‖ publicKey` with
 * a context per key type — the two ML-KEM kinds have different ones — so a signature
 * cannot be moved to another key type, kind or id. Private records are plain data; the
 * caller stores them, rotates the signed ones (§4.6) and deletes a one-time prekey once a
 * session has used it.
 */
import { ml_kem768 } from '@noble/post-quantum/ml-kem.js';
import { expectBytes, expectInt } from './bytes.js';
import { type RandomSource, systemRandom } from './deps.js';
import { generateX25519 } from './dh.js';
import { fail } from './errors.js';
import { type IdentityKeyPair, signWithIdentity, verifyIdentitySignature } from './identity.js';
import {
  MLKEM768_KEYGEN_SEED_BYTES,
  MLKEM768_PUBLIC_BYTES,
  type PqPreKeyKind,
  SIG_CONTEXT_ONE_TIME_PQ_PREKEY,
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
 * Most one-time ML-KEM-768 prekeys generated in one call (spec §12): a bounded batch, the
 * relay's per-upload limit. Each costs a key generation, a signature and 1,184 bytes.
 *
 * @example
 * const batch = generateOneTimePqPreKeys(identity, nextPqId, MAX_ONE_TIME_PQ_PREKEY_BATCH);
 */
export const MAX_ONE_TIME_PQ_PREKEY_BATCH = 100;

export type { PqPreKeyKind } from './protocol-constants.js';

/** The signature context of a PQ prekey kind (spec §4.3). */
export function pqPreKeyContext(kind: PqPreKeyKind): Uint8Array {
  if (kind === 'last-resort') return SIG_CONTEXT_PQ_PREKEY;
  if (kind === 'one-time') return SIG_CONTEXT_ONE_TIME_PQ_PREKEY;
  return fail('BAD_TYPE', "PQ prekey kind must be 'last-resort' or 'one-time'");
}

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
 * The published half of a signed ML-KEM-768 prekey: the last-resort one or a one-time one.
 *
 * @example
 * const pub: PqPreKeyPublic = { kind: pq.kind, id: pq.id, publicKey: pq.publicKey, signature: pq.signature };
 */
export interface PqPreKeyPublic {
  /** 'last-resort' (reused until rotated) or 'one-time' (handed out once, then deleted). */
  readonly kind: PqPreKeyKind;
  readonly id: number;
  readonly publicKey: Uint8Array;
  readonly signature: Uint8Array;
}
/**
 * A signed ML-KEM-768 prekey with its 2,400-byte decapsulation key.
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

function makePqPreKey(
  identity: IdentityKeyPair,
  kind: PqPreKeyKind,
  id: number,
  random: RandomSource,
): PqPreKey {
  const seed = draw(random, MLKEM768_KEYGEN_SEED_BYTES);
  const { publicKey, secretKey } = ml_kem768.keygen(seed);
  seed.fill(0);
  const signature = signWithIdentity(identity, prekeySignedBytes(pqPreKeyContext(kind), id, publicKey));
  return { kind, id, publicKey, secretKey, signature };
}

/**
 * Generates and signs the last-resort ML-KEM-768 prekey (FIPS 203 key generation from a
 * 64-byte seed), used when no one-time PQ prekey is left; rotated with the signed X25519
 * prekey (spec §4.6).
 *
 * @example
 * const pqpk = generatePqPreKey(identity, 1); // pqpk.kind === 'last-resort'
 */
export function generatePqPreKey(
  identity: IdentityKeyPair,
  id: number,
  random: RandomSource = systemRandom,
): PqPreKey {
  expectInt(id, 'PQ prekey id', 0, 0xffffffff);
  return makePqPreKey(identity, 'last-resort', id, random);
}

/**
 * Generates `count` (1 … MAX_ONE_TIME_PQ_PREKEY_BATCH) signed one-time ML-KEM-768 prekeys
 * with ids `startId`, `startId + 1`, … (spec §4.4). The relay hands each out once; the
 * responder deletes its secret once a session has used it.
 *
 * @example
 * const pqs = generateOneTimePqPreKeys(identity, 1, 100); // ids 1..100, kind 'one-time'
 */
export function generateOneTimePqPreKeys(
  identity: IdentityKeyPair,
  startId: number,
  count: number,
  random: RandomSource = systemRandom,
): PqPreKey[] {
  expectInt(count, 'one-time PQ prekey count', 1, MAX_ONE_TIME_PQ_PREKEY_BATCH);
  expectInt(startId, 'first one-time PQ prekey id', 0, 0xffffffff - count + 1);
  const out: PqPreKey[] = [];
  for (let i = 0; i < count; i++) out.push(makePqPreKey(identity, 'one-time', startId + i, random));
  return out;
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
 * Verifies the identity's signature on an ML-KEM-768 prekey under the context of its kind;
 * throws BAD_SIGNATURE (also for a one-time key presented as last-resort, or the reverse).
 *
 * @example
 * verifyPqPreKey(bundle.identityKey, bundle.pqPreKey);
 */
export function verifyPqPreKey(identityKey: Uint8Array, pqpk: PqPreKeyPublic): void {
  expectInt(pqpk?.id, 'PQ prekey id', 0, 0xffffffff);
  const context = pqPreKeyContext(pqpk.kind);
  expectBytes(pqpk.publicKey, 'PQ prekey', MLKEM768_PUBLIC_BYTES);
  verifyIdentitySignature(identityKey, prekeySignedBytes(context, pqpk.id, pqpk.publicKey), pqpk.signature);
}
