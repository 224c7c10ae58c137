/**
 * Builds the deterministic vectors of spec/protocol.md §10 (a photo) and §11 (safety
 * numbers) from fixed inputs (spec §14.3). Shared by gen-symmetric-vectors.ts, which writes
 * spec/vectors/*.json, and by the test that regenerates them and compares byte for byte.
 * Every input is the SHA-512 of a label, so anyone can recompute them.
 */

import { ed25519 } from '@noble/curves/ed25519.js';
import { sha256, sha512 } from '@noble/hashes/sha2.js';
import { bytesToHex } from '@noble/hashes/utils.js';
import { nobleAesGcm } from '../src/aes-gcm.js';
import { utf8 } from '../src/bytes.js';
import { deriveChunkedKeys } from '../src/chunked.js';
import { paddedPhotoLength } from '../src/padding.js';
import { encryptPhoto, generatePhotoKey, PHOTO_CONTEXT } from '../src/photo.js';
import { encodePhotoMetadata, type PhotoMetadata } from '../src/photo-metadata.js';
import {
  compareSafetyQr,
  computeSafetyNumber,
  fingerprintCanonicalUsername,
  fingerprintHash,
} from '../src/safety-number.js';

/** The first `n` bytes of SHA-512(label): a fixed input anyone can recompute. */
export function labelled(label: string, n: number): Uint8Array {
  return sha512(utf8(label)).slice(0, n);
}

/** A photo of `n` bytes: the JPEG signature FF D8 FF, then byte i = (i × 31 + 7) mod 256. */
export function syntheticJpeg(n: number): Uint8Array {
  return new Uint8Array(n).map((_, i) => (i < 3 ? ([0xff, 0xd8, 0xff][i] as number) : (i * 31 + 7) & 0xff));
}

async function photoCase(name: string, size: number, withPlaintext: boolean) {
  // §10.1: the photo key is 32 CSPRNG bytes; here drawn from a fixed source through the
  // same call a client makes, so the vector pins what generatePhotoKey hands out.
  const photoKey = generatePhotoKey(() => labelled(`secure-drop vectors: ${name} photo key v3`, 32));
  const salt = labelled(`secure-drop vectors: ${name} salt`, 24);
  const photo = syntheticJpeg(size);
  const context = PHOTO_CONTEXT;
  const keys = deriveChunkedKeys(photoKey, salt, context);
  const sealed = await encryptPhoto(photoKey, photo, {
    aead: nobleAesGcm,
    random: () => salt.slice(),
  });
  const metadata: PhotoMetadata = {
    photoKey,
    mime: 'image/jpeg',
    byteLength: size,
    width: 640,
    height: 480,
    ciphertextSha256: sealed.ciphertextSha256,
    blobId: `blob-${name}`,
    thumbnail: withPlaintext ? photo.slice(0, 8) : new Uint8Array(0),
  };
  return {
    name,
    inputs: {
      photoKey: bytesToHex(photoKey),
      salt: bytesToHex(salt),
      photoRule: `syntheticJpeg(${size}): FF D8 FF, then byte i = (i * 31 + 7) mod 256`,
    },
    context: bytesToHex(context),
    c2sp: {
      key: bytesToHex(keys.key),
      baseNonce: bytesToHex(keys.baseNonce),
      commitment: bytesToHex(keys.commitment),
    },
    plaintextLength: size,
    paddedLength: paddedPhotoLength(size),
    plaintextSha256: bytesToHex(sha256(photo)),
    ciphertextLength: sealed.ciphertextLength,
    ciphertextSha256: bytesToHex(sealed.ciphertextSha256),
    ...(withPlaintext ? { plaintext: bytesToHex(photo), ciphertext: bytesToHex(sealed.ciphertext) } : {}),
    metadata: {
      fields: {
        ...metadata,
        photoKey: bytesToHex(metadata.photoKey),
        ciphertextSha256: bytesToHex(metadata.ciphertextSha256),
        thumbnail: bytesToHex(metadata.thumbnail),
      },
      encoded: bytesToHex(encodePhotoMetadata(metadata)),
    },
  };
}

export async function photoVectors() {
  return {
    description:
      'Photo encryption (spec/protocol.md §10, photo message version 3): a random 32-byte photo key (here fixed), the constant C2SP context "SecureDrop_PhotoBlob_v3" ‖ 0x00, derived C2SP key/nonce/commitment, the Padmé padded length (the photo zero-padded to it before C2SP), blob digest and the version 3 photo message encoding (the key right after the version byte). All hex.',
    generator: 'crypto-core/scripts/gen-symmetric-vectors.ts',
    cases: [
      await photoCase('small', 200, true),
      await photoCase('two-chunks', 16_384 + 1000, false),
      await photoCase('exact-chunk', 16_384, false),
      await photoCase('padded-to-chunk', 16_000, false),
    ],
  };
}

export function safetyNumberVectors() {
  const aliceSeed = labelled('secure-drop vectors: alice identity seed', 32);
  const bobSeed = labelled('secure-drop vectors: bob identity seed', 32);
  const alice = { username: 'Alice', identityKey: ed25519.getPublicKey(aliceSeed) };
  const bob = { username: 'bob_42', identityKey: ed25519.getPublicKey(bobSeed) };
  const fromAlice = computeSafetyNumber(alice, bob);
  const fromBob = computeSafetyNumber(bob, alice);
  const mallory = {
    username: 'bob_42',
    identityKey: ed25519.getPublicKey(labelled('secure-drop vectors: mallory', 32)),
  };
  const attacked = computeSafetyNumber(alice, mallory);
  return {
    description:
      'Safety numbers (spec/protocol.md §11): per-party fingerprints (5,200 × SHA-512), the 60 digits both sides show, each side’s QR payload and comparison results. Identity keys are Ed25519 public keys from the given seeds. All hex.',
    generator: 'crypto-core/scripts/gen-symmetric-vectors.ts',
    alice: {
      username: alice.username,
      canonicalUsername: fingerprintCanonicalUsername(alice.username),
      identitySeed: bytesToHex(aliceSeed),
      identityKey: bytesToHex(alice.identityKey),
      fingerprint: bytesToHex(
        fingerprintHash(alice.identityKey, utf8(fingerprintCanonicalUsername(alice.username))),
      ),
    },
    bob: {
      username: bob.username,
      canonicalUsername: fingerprintCanonicalUsername(bob.username),
      identitySeed: bytesToHex(bobSeed),
      identityKey: bytesToHex(bob.identityKey),
      fingerprint: bytesToHex(
        fingerprintHash(bob.identityKey, utf8(fingerprintCanonicalUsername(bob.username))),
      ),
    },
    digits: fromAlice.digits,
    digitsFromBob: fromBob.digits,
    qrFromAlice: bytesToHex(fromAlice.qrPayload),
    qrFromBob: bytesToHex(fromBob.qrPayload),
    aliceScansBob: compareSafetyQr(fromAlice, fromBob.qrPayload),
    bobScansAlice: compareSafetyQr(fromBob, fromAlice.qrPayload),
    malloryInTheMiddle: {
      note: "Alice sees Mallory's key under bob_42; Bob scans Alice's code",
      malloryKey: bytesToHex(mallory.identityKey),
      digitsAliceSees: attacked.digits,
      bobScansAlice: compareSafetyQr(fromBob, attacked.qrPayload),
    },
  };
}
