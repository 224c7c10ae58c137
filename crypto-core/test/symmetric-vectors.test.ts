/**
 * spec/vectors/photo.json and safety-number.json (spec/protocol.md §14.3): regenerated
 * from their fixed inputs and compared byte for byte, and checked independently — the
 * stored blob decrypts on both backends, the metadata decodes, the QR payloads compare.
 */
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { sha256 } from '@noble/hashes/sha2.js';
import { describe, expect, it } from 'vitest';
import { photoVectors, safetyNumberVectors, syntheticJpeg } from '../scripts/symmetric-vectors.js';
import { decryptPhoto } from '../src/photo.js';
import { decodePhotoMetadata } from '../src/photo-metadata.js';
import { compareSafetyQr, computeSafetyNumber } from '../src/safety-number.js';
import { byBackend } from './util/backends.js';
import { hex, toHex } from './util/wycheproof.js';

const specVectors = resolve(dirname(fileURLToPath(import.meta.url)), '../../spec/vectors');
const read = (name: string) => JSON.parse(readFileSync(resolve(specVectors, name), 'utf8'));
const photo = read('photo.json');
const safety = read('safety-number.json');

describe('spec/vectors/photo.json', () => {
  it('is exactly what the generator produces', async () => {
    expect(JSON.parse(JSON.stringify(await photoVectors()))).toEqual(photo);
  });

  it.each(byBackend)('the stored blob decrypts to the stored photo (%s)', async (_, aes) => {
    const c = photo.cases.find((x: { name: string }) => x.name === 'small');
    const meta = decodePhotoMetadata(hex(c.metadata.encoded));
    expect(toHex(meta.ciphertextSha256)).toBe(c.ciphertextSha256);
    // §10.4 v3: the key travels in the photo message itself.
    expect(toHex(meta.photoKey)).toBe(c.inputs.photoKey);
    const plain = await decryptPhoto(meta.photoKey, meta, hex(c.ciphertext), { aead: aes });
    expect(toHex(plain)).toBe(c.plaintext);
  });

  it('every case describes its photo and metadata consistently', () => {
    for (const c of photo.cases) {
      expect(toHex(sha256(syntheticJpeg(c.plaintextLength)))).toBe(c.plaintextSha256);
      const meta = decodePhotoMetadata(hex(c.metadata.encoded));
      expect(meta.byteLength).toBe(c.plaintextLength);
      expect(meta.blobId).toBe(c.metadata.fields.blobId);
      expect(c.metadata.encoded.slice(0, 2)).toBe('03');
      expect(c.context).toBe(toHex(new TextEncoder().encode('SecureDrop_PhotoBlob_v3\0')));
    }
  });
});

describe('spec/vectors/safety-number.json', () => {
  it('is exactly what the generator produces', () => {
    expect(JSON.parse(JSON.stringify(safetyNumberVectors()))).toEqual(safety);
  });

  it('gives both sides the stored digits and matching QR payloads', () => {
    const alice = { username: safety.alice.username, identityKey: hex(safety.alice.identityKey) };
    const bob = { username: safety.bob.username, identityKey: hex(safety.bob.identityKey) };
    const fromBob = computeSafetyNumber(bob, alice);
    expect(fromBob.digits).toBe(safety.digits);
    expect(toHex(fromBob.qrPayload)).toBe(safety.qrFromBob);
    expect(compareSafetyQr(fromBob, hex(safety.qrFromAlice))).toBe('match');
    expect(safety.malloryInTheMiddle.bobScansAlice).toBe('mismatch');
  });
});
