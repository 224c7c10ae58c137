/**
 * Hostile inputs for every export of the symmetric half (chunked, photo, photo-metadata,
 * safety-number, kdf): wrong types, wrong lengths, out-of-range numbers, truncated,
 * oversized and random encodings. Each must fail with a CryptoCoreError — never a
 * TypeError, a RangeError from a library, a sentinel value or a half-built object.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  createChunkedDecryptor,
  createChunkedEncryptor,
  decryptChunked,
  deriveChunkedKeys,
  encryptChunked,
} from '../src/chunked.js';
import { CryptoCoreError } from '../src/errors.js';
import { hkdfExpandSha512, hkdfSha256, hmacSha256 } from '../src/kdf.js';
import {
  createPhotoDecryptor,
  createPhotoEncryptor,
  decryptPhoto,
  encryptPhoto,
  generatePhotoKey,
  photoCiphertextLength,
} from '../src/photo.js';
import { decodePhotoMetadata, encodePhotoMetadata } from '../src/photo-metadata.js';
import {
  compareSafetyQr,
  computeSafetyNumber,
  fingerprintCanonicalUsername,
  fingerprintDigits,
  fingerprintHash,
} from '../src/safety-number.js';

const K = new Uint8Array(32).fill(1);
const notBytes: unknown[] = [
  undefined,
  null,
  42,
  'bytes',
  {},
  [1, 2, 3],
  new Uint16Array(16),
  new ArrayBuffer(32),
];
const wrongKeys: unknown[] = [
  ...notBytes,
  new Uint8Array(0),
  new Uint8Array(31),
  new Uint8Array(33),
  new Uint8Array(64),
];
const badNumbers: unknown[] = [-1, 0, 1.5, Number.NaN, Number.POSITIVE_INFINITY, '5', 2 ** 60, undefined];

/** Calls `fn` and requires a CryptoCoreError, thrown or as a rejection. */
async function typedFailure(fn: () => unknown): Promise<void> {
  let error: unknown;
  try {
    await fn();
  } catch (e) {
    error = e;
  }
  expect(error, 'expected a CryptoCoreError').toBeInstanceOf(CryptoCoreError);
}

// biome-ignore lint/suspicious/noExplicitAny: the point is to pass what the types forbid
const any = (x: unknown): any => x;

describe('hostile inputs: chunked encryption', () => {
  it('rejects bad keys, contexts, salts, options and plaintexts', async () => {
    for (const k of wrongKeys) {
      await typedFailure(() => createChunkedEncryptor(any(k), new Uint8Array(0)));
      await typedFailure(() => createChunkedDecryptor(any(k), new Uint8Array(0)));
      await typedFailure(() => deriveChunkedKeys(any(k), new Uint8Array(24), new Uint8Array(0)));
    }
    for (const c of [...notBytes, new Uint8Array(4097)]) {
      await typedFailure(() => encryptChunked(K, new Uint8Array(1), any(c)));
      await typedFailure(() => decryptChunked(K, new Uint8Array(100), any(c)));
    }
    for (const salt of [...notBytes, new Uint8Array(23), new Uint8Array(25)])
      await typedFailure(() => deriveChunkedKeys(K, any(salt), new Uint8Array(0)));
    for (const n of badNumbers.filter((x) => x !== undefined))
      await typedFailure(() => createChunkedEncryptor(K, new Uint8Array(0), { maxChunks: any(n) }));
    await typedFailure(() =>
      createChunkedEncryptor(K, new Uint8Array(0), { random: () => new Uint8Array(5) }),
    );
    for (const x of notBytes) {
      await typedFailure(() => encryptChunked(K, any(x), new Uint8Array(0)));
      await typedFailure(() => decryptChunked(K, any(x), new Uint8Array(0)));
      await typedFailure(() => createChunkedEncryptor(K, new Uint8Array(0)).push(any(x)));
      await typedFailure(() => createChunkedDecryptor(K, new Uint8Array(0)).push(any(x)));
    }
  });

  it('rejects any random ciphertext, of any length', async () => {
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ maxLength: 40_000 }), async (ct) => {
        await typedFailure(() => decryptChunked(K, ct, new Uint8Array(0)));
      }),
      { numRuns: 60 },
    );
  });
});

describe('hostile inputs: photos', () => {
  const meta = { mime: 'image/jpeg' as const, byteLength: 3, ciphertextSha256: new Uint8Array(32) };
  it('rejects bad photo keys, sizes and metadata', async () => {
    for (const k of wrongKeys) {
      await typedFailure(() => encryptPhoto(any(k), new Uint8Array(3)));
      await typedFailure(() => createPhotoEncryptor(any(k)));
      await typedFailure(() => decryptPhoto(any(k), meta, new Uint8Array(100)));
      await typedFailure(() => createPhotoDecryptor(any(k), meta));
    }
    for (const r of [null, 42, 'random', () => new Uint8Array(31), () => 'bytes'])
      await typedFailure(() => generatePhotoKey(any(r)));
    for (const n of badNumbers) await typedFailure(() => photoCiphertextLength(any(n)));
    await typedFailure(() => encryptPhoto(K, new Uint8Array(0)));
    for (const x of notBytes) await typedFailure(() => encryptPhoto(K, any(x)));
    const badMetas: unknown[] = [
      null,
      42,
      { ...meta, mime: 'image/gif' },
      { ...meta, mime: undefined },
      { ...meta, byteLength: 0 },
      { ...meta, byteLength: 2 ** 40 },
      { ...meta, ciphertextSha256: new Uint8Array(31) },
      { ...meta, ciphertextSha256: 'digest' },
    ];
    for (const m of badMetas) {
      await typedFailure(() => createPhotoDecryptor(K, any(m)));
      await typedFailure(() => decryptPhoto(K, any(m), new Uint8Array(100)));
    }
    for (const x of notBytes) await typedFailure(() => createPhotoDecryptor(K, meta).push(any(x)));
  });

  it('rejects bad metadata objects and any random encoding', async () => {
    const good = {
      photoKey: new Uint8Array(32).fill(9),
      mime: 'image/png',
      byteLength: 5,
      width: 1,
      height: 1,
      ciphertextSha256: new Uint8Array(32),
      blobId: 'b',
      thumbnail: new Uint8Array(0),
    };
    const bad: unknown[] = [
      null,
      'meta',
      { ...good, mime: 'text/html' },
      { ...good, byteLength: -1 },
      { ...good, width: 70_000 },
      { ...good, height: 1.5 },
      { ...good, blobId: '' },
      { ...good, blobId: 'x'.repeat(129) },
      { ...good, blobId: 'блоб' },
      { ...good, blobId: 7 },
      { ...good, thumbnail: 'jpeg' },
      { ...good, ciphertextSha256: new Uint8Array(33) },
      { ...good, photoKey: new Uint8Array(31) },
      { ...good, photoKey: undefined },
    ];
    for (const m of bad) await typedFailure(() => encodePhotoMetadata(any(m)));
    for (const x of notBytes) await typedFailure(() => decodePhotoMetadata(any(x)));
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => {
        try {
          const m = decodePhotoMetadata(bytes);
          // Accepting random bytes is allowed only if they re-encode to exactly the same bytes.
          expect(encodePhotoMetadata(m)).toEqual(bytes);
        } catch (e) {
          expect(e).toBeInstanceOf(CryptoCoreError);
        }
      }),
      { numRuns: 300 },
    );
  });
});

describe('hostile inputs: safety numbers', () => {
  const party = { username: 'alice', identityKey: new Uint8Array(32).fill(4) };
  const peer = { username: 'bob', identityKey: new Uint8Array(32).fill(5) };
  it('rejects bad usernames, keys, parties and payloads', async () => {
    for (const u of [
      undefined,
      null,
      42,
      '',
      ' alice',
      'al ice',
      'alice\n',
      'a\u0000',
      '\u00a0',
      'x'.repeat(65),
      'я'.repeat(33),
      'a\ud800',
      '\udc00b',
    ])
      await typedFailure(() => fingerprintCanonicalUsername(any(u)));
    for (const k of [...notBytes, new Uint8Array(31), new Uint8Array(65)]) {
      await typedFailure(() => computeSafetyNumber({ username: 'a', identityKey: any(k) }, peer));
      await typedFailure(() => fingerprintHash(any(k), new Uint8Array(1)));
    }
    for (const p of [null, undefined, 'alice', {}]) {
      await typedFailure(() => computeSafetyNumber(any(p), peer));
      await typedFailure(() => computeSafetyNumber(party, any(p)));
    }
    await typedFailure(() => fingerprintHash(new Uint8Array(32), new Uint8Array(65)));
    for (const h of [...notBytes, new Uint8Array(63)]) await typedFailure(() => fingerprintDigits(any(h)));
    const mine = computeSafetyNumber(party, peer);
    for (const q of [
      ...notBytes,
      new Uint8Array(0),
      new Uint8Array(65),
      new Uint8Array(66).fill(1),
      new Uint8Array(64).fill(1),
    ])
      await typedFailure(() => compareSafetyQr(mine, any(q)));
    for (const m of [null, {}, { qrPayload: 'x' }])
      await typedFailure(() => compareSafetyQr(any(m), mine.qrPayload));
  });
});

describe('hostile inputs: kdf wrappers', () => {
  it('rejects non-bytes and impossible lengths', async () => {
    for (const x of notBytes) {
      await typedFailure(() => hkdfSha256(any(x), new Uint8Array(0), new Uint8Array(0), 32));
      await typedFailure(() => hkdfSha256(K, any(x), new Uint8Array(0), 32));
      await typedFailure(() => hkdfSha256(K, new Uint8Array(0), any(x), 32));
      await typedFailure(() => hmacSha256(any(x), K));
      await typedFailure(() => hmacSha256(K, any(x)));
      await typedFailure(() => hkdfExpandSha512(any(x), K, 32));
    }
    for (const n of [...badNumbers, 255 * 32 + 1]) await typedFailure(() => hkdfSha256(K, K, K, any(n)));
    await typedFailure(() => hkdfExpandSha512(new Uint8Array(0), K, 32));
    await typedFailure(() => hkdfExpandSha512(new Uint8Array(129), K, 32));
    await typedFailure(() => hkdfExpandSha512(K, K, 255 * 64 + 1));
  });
});
