/**
 * The PQXDH-style handshake (spec/protocol.md §5): X3DH (Signal X3DH spec §3.3) over the
 * identity's X25519 form, plus one ML-KEM-768 encapsulation to the signed PQ prekey whose
 * shared secret is appended last to the KDF input (Signal PQXDH spec §3.3). This module
 * knows keys and secrets only; wire encodings live in initial-message.ts, sessions in
 * session.ts. The X25519 of the responder's half may go through a backend
 * (x25519-backend.ts); the initiator's half and every fallback use noble (dh.ts).
 */
import { sha256 } from '@noble/hashes/sha2.js';
import { ml_kem768 } from '@noble/post-quantum/ml-kem.js';
import { ByteWriter, concat, expectBytes, utf8, wipe } from './bytes.js';
import type { RandomSource } from './deps.js';
import { assertPrimeOrderX25519, dh, dhWith, generateX25519, type X25519KeyPair } from './dh.js';
import { fail } from './errors.js';
import type { IdentityKeyPair } from './identity.js';
import { identityDhPublic, identityDhSecret } from './identity-dh.js';
import { hkdfSha256 } from './kdf.js';
import {
  ACCOUNTS_BINDING_CONTEXT,
  INFO_PQXDH,
  KEM_BINDING_CONTEXT,
  KEY_BYTES,
  MLKEM768_CIPHERTEXT_BYTES,
  MLKEM768_ENCAPS_RANDOM_BYTES,
  MLKEM768_PUBLIC_BYTES,
  MLKEM768_SECRET_BYTES,
} from './protocol-constants.js';
import { draw } from './random-draw.js';
import { fingerprintCanonicalUsername } from './safety-number.js';
import type { X25519Backend } from './x25519-backend.js';

/** 32 bytes of 0xFF prepended to the DH outputs (X3DH §2.2: curve25519 "F"). */
const KDF_F = new Uint8Array(32).fill(0xff);
const ZERO_SALT = new Uint8Array(KEY_BYTES);

/** SK = HKDF(salt = 0^32, ikm = F ‖ DH1 ‖ DH2 ‖ DH3 [‖ DH4] ‖ SS, info = INFO_PQXDH, 32). */
export function deriveHandshakeSecret(dhOutputs: Uint8Array[], kemSecret: Uint8Array): Uint8Array {
  const ikm = concat(KDF_F, ...dhOutputs, kemSecret);
  const sk = hkdfSha256(ikm, ZERO_SALT, INFO_PQXDH, KEY_BYTES);
  wipe(ikm);
  return sk;
}

/**
 * The two accounts of a session (spec §5.4): the canonical usernames (§11.1) of the
 * initiator and the responder, as the relay names them.
 */
export interface SessionAccounts {
  initiator: string;
  responder: string;
  /**
   * A session between two devices of one account (spec §16.2): both names are this
   * account's and the peer's identity key is this party's own. Without it, a peer whose
   * identity key is one's own is refused (BAD_KEY, REFLECTED_MESSAGE), as before devices.
   */
  sibling?: boolean;
}

/**
 * SHA-256("SecureDrop_Accounts_v2" ‖ bytes16(initiator) ‖ bytes16(responder)) over the
 * canonical usernames (spec §5.4): binds who each side believes it talks to into every
 * message's associated data (X3DH §4.8, identity misbinding). Throws BAD_TYPE,
 * BAD_FORMAT or BAD_LENGTH for a username §11.1 refuses.
 */
export function accountBindingDigest(accounts: SessionAccounts): Uint8Array {
  if (typeof accounts !== 'object' || accounts === null) fail('BAD_TYPE', 'accounts must be an object');
  const initiator = utf8(fingerprintCanonicalUsername(accounts.initiator));
  const responder = utf8(fingerprintCanonicalUsername(accounts.responder));
  return sha256(
    new ByteWriter()
      .rest(ACCOUNTS_BINDING_CONTEXT)
      .bytes16(initiator, 'initiator')
      .bytes16(responder, 'responder')
      .finish(),
  );
}

/**
 * AD = IK_A ‖ IK_B ‖ SHA-256(KEM_BINDING_CONTEXT ‖ PQPK_B ‖ CT) ‖ accounts digest
 * (spec §5.4, 128 bytes).
 */
export function handshakeAssociatedData(
  initiatorIdentity: Uint8Array,
  responderIdentity: Uint8Array,
  pqPublicKey: Uint8Array,
  kemCiphertext: Uint8Array,
  accountsDigest: Uint8Array,
): Uint8Array {
  const binding = sha256(concat(KEM_BINDING_CONTEXT, pqPublicKey, kemCiphertext));
  return concat(initiatorIdentity, responderIdentity, binding, accountsDigest);
}

/** What the initiator learns and must send (spec §5.2). */
export interface InitiatorAgreement {
  sharedKey: Uint8Array;
  associatedData: Uint8Array;
  ephemeral: X25519KeyPair;
  kemCiphertext: Uint8Array;
}

/**
 * The initiator's half. The caller has verified the bundle's signatures already.
 * DH1 = DH(IK_A, SPK_B), DH2 = DH(EK_A, IK_B), DH3 = DH(EK_A, SPK_B), DH4 = DH(EK_A, OPK_B).
 */
export function initiatorAgree(
  identity: IdentityKeyPair,
  responderIdentity: Uint8Array,
  signedPreKey: Uint8Array,
  pqPreKey: Uint8Array,
  oneTimePreKey: Uint8Array | undefined,
  accountsDigest: Uint8Array,
  random: RandomSource,
): InitiatorAgreement {
  const ikSecret = identityDhSecret(identity);
  const ikB = identityDhPublic(responderIdentity);
  const ephemeral = generateX25519(random);
  const outputs = [
    dh(ikSecret, signedPreKey),
    dh(ephemeral.secretKey, ikB),
    dh(ephemeral.secretKey, signedPreKey),
  ];
  if (oneTimePreKey !== undefined) outputs.push(dh(ephemeral.secretKey, oneTimePreKey));
  const m = draw(random, MLKEM768_ENCAPS_RANDOM_BYTES);
  let enc: { cipherText: Uint8Array; sharedSecret: Uint8Array };
  try {
    enc = ml_kem768.encapsulate(expectBytes(pqPreKey, 'PQ prekey', MLKEM768_PUBLIC_BYTES), m);
  } catch {
    wipe(ikSecret, ...outputs);
    return fail('BAD_KEY', 'ML-KEM-768 public key is not valid (FIPS 203 §7.2 modulus check)');
  }
  const sharedKey = deriveHandshakeSecret(outputs, enc.sharedSecret);
  wipe(ikSecret, enc.sharedSecret, ...outputs);
  return {
    sharedKey,
    associatedData: handshakeAssociatedData(
      identity.publicKey,
      responderIdentity,
      pqPreKey,
      enc.cipherText,
      accountsDigest,
    ),
    ephemeral,
    kemCiphertext: enc.cipherText,
  };
}

/** The responder's secrets for one initial message. */
export interface ResponderSecrets {
  identity: IdentityKeyPair;
  signedPreKeySecret: Uint8Array;
  pqPreKeyPublic: Uint8Array;
  pqPreKeySecret: Uint8Array;
  oneTimePreKeySecret: Uint8Array | undefined;
  /** {@link accountBindingDigest} of the session's two accounts. */
  accountsDigest: Uint8Array;
}

/** One X25519 of the handshake: own secret, the peer's public key, and own public key if known. */
interface DhInput {
  secretKey: Uint8Array;
  publicKey: Uint8Array;
  ownPublicKey: Uint8Array | undefined;
}

/**
 * The responder's four DHs, in KDF order (spec §5.3): DH1 = DH(SPK_B, IK_A),
 * DH2 = DH(IK_B, EK_A), DH3 = DH(SPK_B, EK_A), DH4 = DH(OPK_B, EK_A). The caller computes
 * them (noble in {@link responderAgree}, a backend in {@link responderAgreeWith}) and hands
 * the outputs to {@link responderFinish}. `ownPublic` are the public halves held, if any.
 */
function responderDhInputs(
  keys: ResponderSecrets,
  initiatorIdentity: Uint8Array,
  baseKey: Uint8Array,
  ownPublic: { identity?: Uint8Array; signedPreKey?: Uint8Array; oneTimePreKey?: Uint8Array } = {},
): DhInput[] {
  // EK_A is the only DH input not in AD: it must have exactly one encoding (spec §5.2).
  assertPrimeOrderX25519(baseKey);
  const ikA = identityDhPublic(initiatorIdentity);
  const ikSecret = identityDhSecret(keys.identity);
  const inputs: DhInput[] = [
    { secretKey: keys.signedPreKeySecret, publicKey: ikA, ownPublicKey: ownPublic.signedPreKey },
    { secretKey: ikSecret, publicKey: baseKey, ownPublicKey: ownPublic.identity },
    { secretKey: keys.signedPreKeySecret, publicKey: baseKey, ownPublicKey: ownPublic.signedPreKey },
  ];
  if (keys.oneTimePreKeySecret !== undefined)
    inputs.push({
      secretKey: keys.oneTimePreKeySecret,
      publicKey: baseKey,
      ownPublicKey: ownPublic.oneTimePreKey,
    });
  return inputs;
}

/**
 * The rest of the responder's half once the DH outputs are known: decapsulation, SK and AD.
 * Wipes the outputs and the identity's X25519 secret (the second input).
 */
function responderFinish(
  keys: ResponderSecrets,
  inputs: DhInput[],
  outputs: Uint8Array[],
  initiatorIdentity: Uint8Array,
  kemCiphertext: Uint8Array,
): { sharedKey: Uint8Array; associatedData: Uint8Array } {
  const ikSecret = inputs[1]?.secretKey ?? new Uint8Array(0);
  try {
    expectBytes(kemCiphertext, 'KEM ciphertext', MLKEM768_CIPHERTEXT_BYTES);
    expectBytes(keys.pqPreKeySecret, 'PQ prekey secret', MLKEM768_SECRET_BYTES);
  } catch (e) {
    wipe(ikSecret, ...outputs);
    throw e;
  }
  let ss: Uint8Array;
  try {
    // FIPS 203 decapsulation never fails on a well-sized ciphertext (implicit rejection
    // yields an unrelated secret, so a tampered CT fails at the first AEAD check).
    ss = ml_kem768.decapsulate(kemCiphertext, keys.pqPreKeySecret);
  } catch {
    wipe(ikSecret, ...outputs);
    return fail('BAD_KEY', 'ML-KEM-768 decapsulation key is not valid');
  }
  const sharedKey = deriveHandshakeSecret(outputs, ss);
  wipe(ikSecret, ss, ...outputs);
  return {
    sharedKey,
    associatedData: handshakeAssociatedData(
      initiatorIdentity,
      keys.identity.publicKey,
      keys.pqPreKeyPublic,
      kemCiphertext,
      keys.accountsDigest,
    ),
  };
}

/** The responder's half: the same four DHs from the other side, and decapsulation. */
export function responderAgree(
  keys: ResponderSecrets,
  initiatorIdentity: Uint8Array,
  baseKey: Uint8Array,
  kemCiphertext: Uint8Array,
): { sharedKey: Uint8Array; associatedData: Uint8Array } {
  const inputs = responderDhInputs(keys, initiatorIdentity, baseKey);
  const outputs: Uint8Array[] = [];
  try {
    for (const i of inputs) outputs.push(dh(i.secretKey, i.publicKey));
  } catch (e) {
    wipe(inputs[1]?.secretKey, ...outputs);
    throw e;
  }
  return responderFinish(keys, inputs, outputs, initiatorIdentity, kemCiphertext);
}

/** The responder's own public halves, when it holds them: they let a backend take its key-pair shortcut. */
export interface ResponderPublicKeys {
  signedPreKey: Uint8Array;
  oneTimePreKey?: Uint8Array | undefined;
}

/**
 * {@link responderAgree} with its four DHs (spec §5.3) computed through `backend`. A
 * backend with the key-pair shortcut (`keyPairSharedSecret`, WebCrypto) computes them at
 * once, the responder's own public halves letting it import each pair cheaply (dh.ts
 * dhWith); any other backend gets noble's {@link responderAgree}. Same checks, same
 * outputs, same KDF order; any refusal falls back to noble inside dhWith.
 */
export async function responderAgreeWith(
  backend: X25519Backend,
  keys: ResponderSecrets,
  initiatorIdentity: Uint8Array,
  baseKey: Uint8Array,
  kemCiphertext: Uint8Array,
  own: ResponderPublicKeys,
): Promise<{ sharedKey: Uint8Array; associatedData: Uint8Array }> {
  if (backend.keyPairSharedSecret === undefined)
    return responderAgree(keys, initiatorIdentity, baseKey, kemCiphertext);
  let identity: Uint8Array | undefined;
  try {
    identity = identityDhPublic(keys.identity.publicKey);
  } catch {
    identity = undefined; // only a shortcut is lost: the secret alone decides the DH
  }
  const inputs = responderDhInputs(keys, initiatorIdentity, baseKey, {
    identity,
    signedPreKey: own.signedPreKey,
    oneTimePreKey: own.oneTimePreKey,
  });
  let outputs: Uint8Array[];
  try {
    outputs = await Promise.all(inputs.map((i) => dhWith(backend, i.secretKey, i.publicKey, i.ownPublicKey)));
  } catch (e) {
    wipe(inputs[1]?.secretKey);
    throw e;
  }
  return responderFinish(keys, inputs, outputs, initiatorIdentity, kemCiphertext);
}
