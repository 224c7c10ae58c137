/**
 * Linking a new device (spec/protocol.md §16.6–§16.7): the new device shows a link URI
 * (QR) holding a relay address, its X25519 public key and the SHA-256 of its ML-KEM-768
 * encapsulation key (the key itself, 1,184 bytes, is too large for a QR and goes through
 * the relay); an existing device of the account fetches that key, checks it against the
 * hash, and seals the provisioning payload (the account's identity seed, contacts and
 * optional history) to both keys — X25519 and ML-KEM-768 into one HKDF, then AES-256-GCM.
 * Signal's ProvisioningCipher uses X25519 alone; the KEM makes a recorded provisioning
 * message safe against a later quantum computer, and the hash in the QR makes a relay that
 * substitutes the ML-KEM key fail at the sealer (§15.2).
 *
 * Every primitive is @noble's or WebCrypto's; this module only composes them.
 *
 * @example
 * // new device
 * const req = createLinkRequest();
 * const { address } = await api.createProvisioning(req.ek);            // POST /provisioning
 * showQr(encodeLinkUri({ address, xPk: req.xPk, ekHash: req.ekHash }));
 * // existing device
 * const link = decodeLinkUri(scanned);
 * const { pq_key } = await api.getProvisioning(link.address);         // GET /provisioning/{address}
 * const message = await sealProvisioning(link, pq_key, payloadBytes);  // BAD_KEY if pq_key ≠ QR
 * // new device, once PUT: const payload = await openProvisioning(req.secret, link, message);
 */
import { sha256 } from '@noble/hashes/sha2.js';
import { ml_kem768 } from '@noble/post-quantum/ml-kem.js';
import { type AesGcm, defaultAesGcm, GCM_NONCE_BYTES, GCM_TAG_BYTES } from './aes-gcm.js';
import { ByteReader, ByteWriter, concat, expectBytes, utf8, wipe } from './bytes.js';
import { bytesEqual } from './bytes-equal.js';
import { type RandomSource, systemRandom } from './deps.js';
import { assertCanonicalX25519, dh, generateX25519 } from './dh.js';
import { fail } from './errors.js';
import { hkdfSha256 } from './kdf.js';
import {
  MLKEM768_CIPHERTEXT_BYTES,
  MLKEM768_ENCAPS_RANDOM_BYTES,
  MLKEM768_KEYGEN_SEED_BYTES,
  MLKEM768_PUBLIC_BYTES,
  MLKEM768_SECRET_BYTES,
  X25519_BYTES,
} from './protocol-constants.js';
import { draw } from './random-draw.js';

/** Version byte of the link URI's bytes and of the provisioning message (spec §16.6, §16.7). */
export const PROVISIONING_VERSION = 0x01;
/** Scheme prefix of the link URI (spec §16.6). */
export const LINK_URI_PREFIX = 'securedrop-link:';
/** Bytes of a provisioning address (the relay's, spec §16.6): 22 base64url characters. */
export const PROVISIONING_ADDRESS_BYTES = 16;
/** Bytes of SHA-256(ek) in the link URI. */
export const LINK_KEY_HASH_BYTES = 32;
/** Bytes the link URI encodes: version ‖ address ‖ x_pk ‖ SHA-256(ek) = 81. */
export const LINK_BYTES = 1 + PROVISIONING_ADDRESS_BYTES + X25519_BYTES + LINK_KEY_HASH_BYTES;
/** Characters of the whole link URI: 16 + 108. */
export const LINK_URI_LENGTH = LINK_URI_PREFIX.length + (LINK_BYTES / 3) * 4;
/** Bytes before the AES-GCM ciphertext: version ‖ e_pk ‖ ct ‖ nonce = 1,133 (the AAD). */
export const PROVISIONING_HEADER_BYTES = 1 + X25519_BYTES + MLKEM768_CIPHERTEXT_BYTES + GCM_NONCE_BYTES;
/** Largest provisioning message: the relay's PUT limit, 8 MiB (spec §12, §16.7). */
export const MAX_PROVISIONING_BYTES = 8 * 1024 * 1024;
/** Largest payload: MAX_PROVISIONING_BYTES − 1,133 − 16 = 8,387,459 bytes. */
export const MAX_PROVISIONING_PAYLOAD_BYTES =
  MAX_PROVISIONING_BYTES - PROVISIONING_HEADER_BYTES - GCM_TAG_BYTES;
/** HKDF info prefix of the provisioning key (spec §16.7). */
export const INFO_PROVISIONING = utf8('SecureDrop_Provisioning_v2');

const ZERO_SALT = new Uint8Array(32);

/** What the new device shows in its QR (spec §16.6), decoded. */
export interface LinkInfo {
  /** The relay's provisioning address, 16 bytes. */
  address: Uint8Array;
  /** The new device's X25519 public key for this link. */
  xPk: Uint8Array;
  /** SHA-256 of the new device's ML-KEM-768 encapsulation key for this link. */
  ekHash: Uint8Array;
}

/** The new device's secrets for one link: keep them in memory only, until it is opened or expires. */
export interface LinkSecret {
  xSk: Uint8Array;
  /** ML-KEM-768 decapsulation key (2,400 bytes). */
  dk: Uint8Array;
}

/** A new link request: the secrets, the ML-KEM key to POST, and what the QR shows. */
export interface LinkRequest {
  secret: LinkSecret;
  /** ML-KEM-768 encapsulation key (1,184 bytes): POST /provisioning `pq_key`. */
  ek: Uint8Array;
  xPk: Uint8Array;
  /** SHA-256(ek), for {@link encodeLinkUri}. */
  ekHash: Uint8Array;
}

/** Options of the sealer and opener: the randomness (vectors fix it) and the AES-GCM backend. */
export interface ProvisioningOptions {
  random?: RandomSource;
  aead?: AesGcm;
}

/** SHA-256 of an ML-KEM-768 encapsulation key, as the link URI carries it. */
export function linkKeyHash(ek: Uint8Array): Uint8Array {
  return sha256(expectBytes(ek, 'ML-KEM encapsulation key', MLKEM768_PUBLIC_BYTES));
}

/**
 * The new device's keys for one link (spec §16.6): an X25519 pair from 32 random bytes and
 * an ML-KEM-768 pair from a 64-byte seed `d ‖ z` (FIPS 203 KeyGen_internal), drawn in that
 * order. Fresh per link: never reuse a request after it was opened or expired.
 *
 * @example
 * const { secret, ek, xPk, ekHash } = createLinkRequest();
 */
export function createLinkRequest(random: RandomSource = systemRandom): LinkRequest {
  const x = generateX25519(random);
  const seed = draw(random, MLKEM768_KEYGEN_SEED_BYTES);
  const { publicKey, secretKey } = ml_kem768.keygen(seed);
  wipe(seed);
  return {
    secret: { xSk: x.secretKey, dk: secretKey },
    ek: publicKey,
    xPk: x.publicKey.slice(),
    ekHash: sha256(publicKey),
  };
}

function checkLink(link: LinkInfo): LinkInfo {
  if (typeof link !== 'object' || link === null) fail('BAD_TYPE', 'link must be an object');
  expectBytes(link.address, 'provisioning address', PROVISIONING_ADDRESS_BYTES);
  expectBytes(link.ekHash, 'ML-KEM key hash', LINK_KEY_HASH_BYTES);
  assertCanonicalX25519(expectBytes(link.xPk, 'link X25519 key', X25519_BYTES));
  return link;
}

const B64URL = /^[A-Za-z0-9_-]*$/;

function toBase64url(bytes: Uint8Array): string {
  let bin = '';
  for (const b of bytes) bin += String.fromCharCode(b);
  return btoa(bin).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

/** Strict base64url without padding; a non-canonical encoding (stray low bits) is BAD_FORMAT. */
function fromBase64url(text: string, bytes: number, what: string): Uint8Array {
  if (typeof text !== 'string') fail('BAD_TYPE', `${what} must be a string`);
  if (text.length !== Math.ceil((bytes * 4) / 3) || !B64URL.test(text))
    fail('BAD_FORMAT', `${what} is not ${bytes} bytes of unpadded base64url`);
  const bin = atob(text.replace(/-/g, '+').replace(/_/g, '/'));
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  if (out.length !== bytes || toBase64url(out) !== text)
    fail('BAD_FORMAT', `${what} is not canonical base64url`);
  return out;
}

/**
 * The relay's spelling of a provisioning address: 22 characters of unpadded base64url.
 *
 * @example
 * encodeProvisioningAddress(link.address); // 'q2b…' (the path segment of /provisioning/{address})
 */
export function encodeProvisioningAddress(address: Uint8Array): string {
  return toBase64url(expectBytes(address, 'provisioning address', PROVISIONING_ADDRESS_BYTES));
}

/** Parses a relay address strictly (22 characters, base64url, canonical): BAD_FORMAT otherwise. */
export function decodeProvisioningAddress(text: string): Uint8Array {
  return fromBase64url(text, PROVISIONING_ADDRESS_BYTES, 'provisioning address');
}

/**
 * The link URI (spec §16.6): `securedrop-link:` ‖ base64url(0x01 ‖ address ‖ x_pk ‖
 * SHA-256(ek)), unpadded: 124 characters.
 *
 * @example
 * const uri = encodeLinkUri({ address, xPk: req.xPk, ekHash: req.ekHash });
 */
export function encodeLinkUri(link: LinkInfo): string {
  const { address, xPk, ekHash } = checkLink(link);
  const bytes = new ByteWriter()
    .u8(PROVISIONING_VERSION)
    .fixed(address, PROVISIONING_ADDRESS_BYTES, 'provisioning address')
    .fixed(xPk, X25519_BYTES, 'link X25519 key')
    .fixed(ekHash, LINK_KEY_HASH_BYTES, 'ML-KEM key hash')
    .finish();
  return LINK_URI_PREFIX + toBase64url(bytes);
}

/**
 * Parses a scanned link URI strictly (spec §16.6): the exact prefix, 108 characters of
 * canonical unpadded base64url, 81 bytes (BAD_FORMAT otherwise), version 0x01
 * (UNSUPPORTED_VERSION otherwise), a canonical X25519 key (BAD_KEY).
 *
 * @example
 * const link = decodeLinkUri(scannedText);
 */
export function decodeLinkUri(uri: string): LinkInfo {
  if (typeof uri !== 'string') fail('BAD_TYPE', 'link URI must be a string');
  if (uri.length > LINK_URI_LENGTH + 64) fail('BAD_FORMAT', 'link URI is too long');
  if (!uri.startsWith(LINK_URI_PREFIX)) fail('BAD_FORMAT', `link URI must start with ${LINK_URI_PREFIX}`);
  const encoded = uri.slice(LINK_URI_PREFIX.length);
  // The version byte is read before the length check so a later version says so.
  if (encoded.length >= 4 && B64URL.test(encoded.slice(0, 4))) {
    const version = atob(encoded.slice(0, 4).replace(/-/g, '+').replace(/_/g, '/')).charCodeAt(0);
    if (version !== PROVISIONING_VERSION)
      fail('UNSUPPORTED_VERSION', `link URI version ${version} is not supported`);
  }
  const r = new ByteReader(fromBase64url(encoded, LINK_BYTES, 'link URI'), 'link URI');
  r.u8('version');
  const address = r.fixed(PROVISIONING_ADDRESS_BYTES, 'address');
  const xPk = r.fixed(X25519_BYTES, 'X25519 key');
  const ekHash = r.fixed(LINK_KEY_HASH_BYTES, 'ML-KEM key hash');
  r.end();
  assertCanonicalX25519(xPk);
  return { address, xPk, ekHash };
}

/** key = HKDF(0^32, dh ‖ ss, "SecureDrop_Provisioning_v2" ‖ address ‖ x_pk ‖ e_pk ‖ SHA-256(ek), 32). */
function provisioningKey(link: LinkInfo, ePk: Uint8Array, dhOut: Uint8Array, ss: Uint8Array): Uint8Array {
  const ikm = concat(dhOut, ss);
  try {
    return hkdfSha256(
      ikm,
      ZERO_SALT,
      concat(INFO_PROVISIONING, link.address, link.xPk, ePk, link.ekHash),
      32,
    );
  } finally {
    wipe(ikm);
  }
}

/**
 * Seals a provisioning payload for the new device (spec §16.7). `ek` is the ML-KEM key the
 * relay returned (GET /provisioning/{address} `pq_key`): unless SHA-256(ek) equals the hash
 * in the link URI it is refused with BAD_KEY before anything is computed — a relay that
 * substitutes its own key learns nothing. Random draws, in order: e (32), m (32), nonce (12).
 * BAD_LENGTH for a payload over MAX_PROVISIONING_PAYLOAD_BYTES.
 *
 * @example
 * const message = await sealProvisioning(decodeLinkUri(scanned), pqKeyFromRelay, utf8(JSON.stringify(payload)));
 */
export async function sealProvisioning(
  link: LinkInfo,
  ek: Uint8Array,
  payload: Uint8Array,
  options: ProvisioningOptions = {},
): Promise<Uint8Array> {
  checkLink(link);
  expectBytes(ek, 'ML-KEM encapsulation key');
  expectBytes(payload, 'provisioning payload');
  if (payload.length > MAX_PROVISIONING_PAYLOAD_BYTES)
    fail('BAD_LENGTH', `provisioning payload longer than ${MAX_PROVISIONING_PAYLOAD_BYTES} bytes`);
  if (ek.length !== MLKEM768_PUBLIC_BYTES || !bytesEqual(sha256(ek), link.ekHash))
    fail('BAD_KEY', 'the ML-KEM key does not match the hash in the link code');
  const random = options.random ?? systemRandom;
  const aead = options.aead ?? defaultAesGcm();
  const e = generateX25519(random);
  const m = draw(random, MLKEM768_ENCAPS_RANDOM_BYTES);
  let enc: { cipherText: Uint8Array; sharedSecret: Uint8Array };
  try {
    enc = ml_kem768.encapsulate(ek, m);
  } catch {
    return fail('BAD_KEY', 'ML-KEM-768 public key is not valid (FIPS 203 §7.2 modulus check)');
  } finally {
    wipe(m);
  }
  const dhOut = dh(e.secretKey, link.xPk);
  wipe(e.secretKey);
  const key = provisioningKey(link, e.publicKey, dhOut, enc.sharedSecret);
  wipe(dhOut, enc.sharedSecret);
  const nonce = draw(random, GCM_NONCE_BYTES);
  const header = new ByteWriter()
    .u8(PROVISIONING_VERSION)
    .fixed(e.publicKey, X25519_BYTES, 'e_pk')
    .fixed(enc.cipherText, MLKEM768_CIPHERTEXT_BYTES, 'KEM ciphertext')
    .fixed(nonce, GCM_NONCE_BYTES, 'nonce')
    .finish();
  try {
    return concat(header, await aead.encrypt(key, nonce, payload, header));
  } finally {
    wipe(key);
  }
}

/**
 * Opens a provisioning message on the new device (spec §16.7) with the secrets of the link
 * it showed. Strict: shorter than 1,149 bytes or longer than MAX_PROVISIONING_BYTES
 * BAD_FORMAT, another version UNSUPPORTED_VERSION, a non-canonical e_pk or secrets that are
 * not the link's BAD_KEY, any tampering AUTH_FAILED. The payload still has to be validated
 * (spec/provisioning.schema.json) before anything in it is used.
 *
 * @example
 * const payload = await openProvisioning(req.secret, { address, xPk: req.xPk, ekHash: req.ekHash }, message);
 */
export async function openProvisioning(
  secret: LinkSecret,
  link: LinkInfo,
  message: Uint8Array,
  options: Pick<ProvisioningOptions, 'aead'> = {},
): Promise<Uint8Array> {
  checkLink(link);
  if (typeof secret !== 'object' || secret === null) fail('BAD_TYPE', 'secret must be an object');
  expectBytes(secret.xSk, 'link X25519 secret', X25519_BYTES);
  const dk = expectBytes(secret.dk, 'ML-KEM decapsulation key', MLKEM768_SECRET_BYTES);
  expectBytes(message, 'provisioning message');
  if (message.length > MAX_PROVISIONING_BYTES)
    fail('BAD_FORMAT', 'provisioning message longer than the limit');
  const r = new ByteReader(message, 'provisioning message');
  const version = r.u8('version');
  if (version !== PROVISIONING_VERSION)
    fail('UNSUPPORTED_VERSION', `provisioning message version ${version} is not supported`);
  const ePk = r.fixed(X25519_BYTES, 'e_pk');
  const ct = r.fixed(MLKEM768_CIPHERTEXT_BYTES, 'KEM ciphertext');
  const nonce = r.fixed(GCM_NONCE_BYTES, 'nonce');
  if (r.remaining < GCM_TAG_BYTES) fail('BAD_FORMAT', 'provisioning message: truncated at the tag');
  const sealed = r.rest('ciphertext');
  assertCanonicalX25519(ePk);
  // FIPS 203 dk = dk_PKE ‖ ek ‖ H(ek) ‖ z: its ek must be the one whose hash the QR showed.
  const ekInDk = dk.subarray(1152, 1152 + MLKEM768_PUBLIC_BYTES);
  if (!bytesEqual(sha256(ekInDk), link.ekHash)) fail('BAD_KEY', 'these link secrets are not for this link');
  let ss: Uint8Array;
  try {
    ss = ml_kem768.decapsulate(ct, dk);
  } catch {
    return fail('BAD_KEY', 'ML-KEM-768 decapsulation key is not valid');
  }
  const dhOut = dh(secret.xSk, ePk);
  const key = provisioningKey(link, ePk, dhOut, ss);
  wipe(dhOut, ss);
  const aead = options.aead ?? defaultAesGcm();
  try {
    return await aead.decrypt(key, nonce, sealed, message.subarray(0, PROVISIONING_HEADER_BYTES));
  } finally {
    wipe(key);
  }
}
