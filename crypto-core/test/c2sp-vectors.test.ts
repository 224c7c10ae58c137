/**
 * C2SP chunked encryption against every Wycheproof vector of
 * c2sp_chunked_encryption_aes_256_gcm_test.json (test/vectors/wycheproof/README.md):
 * one-shot, streaming in uneven pieces, and raw mode, through both AES-GCM backends.
 */
import { inflateSync } from 'node:zlib';
import { sha512 } from '@noble/hashes/sha2.js';
import { describe, expect, it } from 'vitest';
import type { AesGcm } from '../src/aes-gcm.js';
import { concat } from '../src/bytes.js';
import {
  CHUNKED_HEADER_BYTES,
  createChunkedDecryptor,
  decryptChunked,
  deriveChunkedKeys,
} from '../src/chunked.js';
import { RawChunkDecryptor } from '../src/chunked-raw.js';
import { CryptoCoreError } from '../src/errors.js';
import { byBackend } from './util/backends.js';
import { hex, loadWycheproof, toHex, type WycheproofTest } from './util/wycheproof.js';

const FILE = 'c2sp_chunked_encryption_aes_256_gcm_test.json';
const tests: WycheproofTest[] = loadWycheproof(FILE).testGroups.flatMap((g) => g.tests);

interface Vector {
  id: string;
  t: WycheproofTest;
  key: Uint8Array;
  ctx: Uint8Array;
  ct: Uint8Array;
}
const vectors: Vector[] = tests.map((t) => ({
  id: `tcId ${t.tcId}: ${t.comment}`,
  t,
  key: hex(t.key as string),
  ctx: hex(t.ctx as string),
  ct: Uint8Array.from(inflateSync(hex(t.ct as string))),
}));

/** Feeds `ct` in pieces of the given sizes (cycled); collects plaintext (raw mode yields parts). */
async function streamed(
  dec: {
    push(b: Uint8Array): Promise<Uint8Array | Uint8Array[]>;
    finish(): Promise<Uint8Array>;
  },
  ct: Uint8Array,
  sizes: number[],
) {
  const out: Uint8Array[] = [];
  let at = 0;
  for (let i = 0; at < ct.length; i++) {
    const n = sizes[i % sizes.length] as number;
    out.push(...[await dec.push(ct.subarray(at, at + n))].flat());
    at += n;
  }
  out.push(await dec.finish());
  return concat(...out);
}

function expectMessage(t: WycheproofTest, pt: Uint8Array): void {
  expect(pt.length).toBe(t.msgLength);
  expect(toHex(sha512(pt))).toBe(t.msgSha512);
}

async function expectRejected(run: () => Promise<unknown>): Promise<void> {
  await expect(run()).rejects.toBeInstanceOf(CryptoCoreError);
}

describe('C2SP chunked encryption: Wycheproof vectors', () => {
  it('has all 35 vectors, valid and invalid', () => {
    expect(vectors.length).toBe(35);
    expect(vectors.some((v) => v.t.result === 'invalid')).toBe(true);
    expect(vectors.every((v) => v.t.result !== 'acceptable')).toBe(true);
  });

  describe.each(byBackend)('%s backend', (_, aes: AesGcm) => {
    it.each(vectors.map((v) => [v.id, v] as const))('one-shot %s', async (_id, v) => {
      const run = () => decryptChunked(v.key, v.ct, v.ctx, { aead: aes });
      if (v.t.result === 'valid') expectMessage(v.t, await run());
      else await expectRejected(run);
    });

    it.each(vectors.map((v) => [v.id, v] as const))('streaming %s', async (_id, v) => {
      for (const sizes of [[1, 7, 16_399, 16_401, 5], [CHUNKED_HEADER_BYTES, 16_400], [100_000]]) {
        const run = async () => streamed(createChunkedDecryptor(v.key, v.ctx, { aead: aes }), v.ct, sizes);
        if (v.t.result === 'valid') expectMessage(v.t, await run());
        else await expectRejected(run);
      }
    });

    it.each(vectors.filter((v) => !v.t.flags.includes('HeaderFailure')).map((v) => [v.id, v] as const))(
      'raw mode %s',
      async (_id, v) => {
        const body = v.ct.subarray(CHUNKED_HEADER_BYTES);
        const run = () =>
          streamed(
            new RawChunkDecryptor(aes, hex(v.t.aeadKey as string), hex(v.t.baseNonce as string)),
            body,
            [4096],
          );
        if (v.t.result === 'valid') expectMessage(v.t, await run());
        else await expectRejected(run);
      },
    );
  });

  it.each(vectors.filter((v) => v.t.result === 'valid').map((v) => [v.id, v] as const))(
    'derives the vector key and base nonce %s',
    (_id, v) => {
      const keys = deriveChunkedKeys(v.key, v.ct.subarray(0, 24), v.ctx);
      expect(toHex(keys.key)).toBe(v.t.aeadKey);
      expect(toHex(keys.baseNonce)).toBe(v.t.baseNonce);
      expect(keys.commitment).toEqual(v.ct.subarray(24, CHUNKED_HEADER_BYTES));
    },
  );

  it.each(vectors.filter((v) => v.t.flags.includes('HeaderFailure')).map((v) => [v.id, v] as const))(
    'rejects at the header, before any chunk is opened: %s',
    async (_id, v) => {
      // The real WebCrypto backend, wrapped only to count chunk decryptions.
      let opened = 0;
      const real = byBackend[0]?.[1] as AesGcm;
      const counting: AesGcm = {
        ...real,
        async withKey(key) {
          const k = await real.withKey(key);
          return {
            ...k,
            decrypt: (n, c, a) => {
              opened++;
              return k.decrypt(n, c, a);
            },
          };
        },
      };
      await expectRejected(async () => {
        const dec = createChunkedDecryptor(v.key, v.ctx, { aead: counting });
        expect(await dec.push(v.ct)).toHaveLength(0);
        await dec.finish();
      });
      expect(opened).toBe(0);
    },
  );

  it('a failed streaming decryptor keeps failing', async () => {
    const v = vectors.find((x) => x.t.flags.includes('PartialPlaintext')) as Vector;
    const dec = createChunkedDecryptor(v.key, v.ctx);
    await expectRejected(() => streamed(dec, v.ct, [16_400]));
    await expect(dec.push(new Uint8Array(1))).rejects.toMatchObject({ code: 'AUTH_FAILED' });
    await expect(dec.finish()).rejects.toMatchObject({ code: 'AUTH_FAILED' });
  });
});
