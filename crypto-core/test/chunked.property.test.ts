/**
 * Properties of C2SP chunked encryption (spec/protocol.md §10.2): round trip for every
 * length (0, multiples of 16 KiB and ±1 included), any split pattern equal to one-shot,
 * and every bit flip, truncation, chunk swap or appended byte rejected.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type AesGcm, nobleAesGcm, webCryptoAesGcm } from '../src/aes-gcm.js';
import { concat } from '../src/bytes.js';
import {
  CHUNK_BYTES,
  CHUNKED_HEADER_BYTES,
  createChunkedDecryptor,
  createChunkedEncryptor,
  decryptChunked,
  decryptChunkedStream,
  encryptChunked,
  encryptChunkedStream,
  SEALED_CHUNK_BYTES,
  transformerOf,
} from '../src/chunked.js';
import { CHUNKS_IN_FLIGHT } from '../src/chunked-raw.js';
import { CryptoCoreError } from '../src/errors.js';

const webcrypto = webCryptoAesGcm(globalThis.crypto.subtle);
const fixedSalt = (seed: number) => (n: number) => new Uint8Array(n).fill(seed);
const key = new Uint8Array(32).map((_, i) => i * 7);
const ctx = new Uint8Array([0x63, 0x74, 0x78]);

const edgeLength = fc.oneof(
  fc.constantFrom(
    0,
    1,
    CHUNK_BYTES - 1,
    CHUNK_BYTES,
    CHUNK_BYTES + 1,
    2 * CHUNK_BYTES - 1,
    2 * CHUNK_BYTES,
    2 * CHUNK_BYTES + 1,
  ),
  fc.integer({ min: 0, max: 3 * CHUNK_BYTES + 100 }),
);
const message = edgeLength.chain((n) => fc.uint8Array({ minLength: n, maxLength: n }));
/** Sizes of consecutive pieces a stream is cut into (cycled). */
const splits = fc.array(fc.integer({ min: 1, max: 2 * SEALED_CHUNK_BYTES + 3 }), {
  minLength: 1,
  maxLength: 6,
});

function cut(data: Uint8Array, sizes: number[]): Uint8Array[] {
  const pieces: Uint8Array[] = [];
  for (let at = 0, i = 0; at < data.length; i++) {
    const n = sizes[i % sizes.length] as number;
    pieces.push(data.subarray(at, at + n));
    at += n;
  }
  return pieces;
}

async function rejects(p: Promise<unknown>): Promise<boolean> {
  try {
    await p;
    return false;
  } catch (e) {
    return e instanceof CryptoCoreError;
  }
}

describe('C2SP chunked encryption properties', () => {
  it('length is header + one sealed chunk per 16 KiB + a short final chunk', async () => {
    await fc.assert(
      fc.asyncProperty(edgeLength, async (n) => {
        const ct = await encryptChunked(key, new Uint8Array(n), ctx);
        expect(ct.length).toBe(CHUNKED_HEADER_BYTES + n + 16 * (Math.floor(n / CHUNK_BYTES) + 1));
      }),
      { numRuns: 30 },
    );
  });

  it('round-trips any message, and both backends produce identical bytes', async () => {
    await fc.assert(
      fc.asyncProperty(message, async (pt) => {
        const a = await encryptChunked(key, pt, ctx, { aead: webcrypto, random: fixedSalt(1) });
        const b = await encryptChunked(key, pt, ctx, { aead: nobleAesGcm, random: fixedSalt(1) });
        expect(a).toEqual(b);
        expect(await decryptChunked(key, a, ctx)).toEqual(pt);
      }),
      { numRuns: 30 },
    );
  });

  it('streaming with any split pattern equals one-shot, both ways', async () => {
    await fc.assert(
      fc.asyncProperty(message, splits, splits, async (pt, encSplit, decSplit) => {
        const oneShot = await encryptChunked(key, pt, ctx, { random: fixedSalt(2) });
        const pieces: Uint8Array[] = [];
        for await (const p of encryptChunkedStream(cut(pt, encSplit), key, ctx, { random: fixedSalt(2) }))
          pieces.push(p);
        expect(concat(...pieces)).toEqual(oneShot);
        const out: Uint8Array[] = [];
        for await (const p of decryptChunkedStream(cut(oneShot, decSplit), key, ctx)) out.push(p);
        expect(concat(...out)).toEqual(pt);
      }),
      { numRuns: 40 },
    );
  });

  it('rejects any single bit flip', async () => {
    await fc.assert(
      fc.asyncProperty(message, fc.nat(), fc.integer({ min: 0, max: 7 }), async (pt, pos, bit) => {
        const ct = await encryptChunked(key, pt, ctx);
        const i = pos % ct.length;
        ct[i] = (ct[i] as number) ^ (1 << bit);
        expect(await rejects(decryptChunked(key, ct, ctx))).toBe(true);
      }),
      { numRuns: 60 },
    );
  });

  it('rejects any truncation and any appended bytes', async () => {
    await fc.assert(
      fc.asyncProperty(
        message,
        fc.nat(),
        fc.uint8Array({ minLength: 1, maxLength: SEALED_CHUNK_BYTES + 1 }),
        async (pt, cutAt, extra) => {
          const ct = await encryptChunked(key, pt, ctx);
          expect(await rejects(decryptChunked(key, ct.subarray(0, cutAt % ct.length), ctx))).toBe(true);
          expect(await rejects(decryptChunked(key, concat(ct, extra), ctx))).toBe(true);
        },
      ),
      { numRuns: 40 },
    );
  });

  it('rejects swapped or duplicated chunks', async () => {
    const lengthWithChunks = fc.integer({ min: CHUNK_BYTES, max: 3 * CHUNK_BYTES + 50 });
    await fc.assert(
      fc.asyncProperty(lengthWithChunks, fc.nat(), fc.nat(), async (n, x, y) => {
        const ct = await encryptChunked(
          key,
          new Uint8Array(n).map((_, i) => i),
          ctx,
        );
        const chunks = cut(ct.subarray(CHUNKED_HEADER_BYTES), [SEALED_CHUNK_BYTES]);
        const i = x % chunks.length;
        let j = y % chunks.length;
        if (i === j) j = (j + 1) % chunks.length;
        const swapped = chunks.slice();
        [swapped[i], swapped[j]] = [chunks[j] as Uint8Array, chunks[i] as Uint8Array];
        expect(
          await rejects(decryptChunked(key, concat(ct.subarray(0, CHUNKED_HEADER_BYTES), ...swapped), ctx)),
        ).toBe(true);
        const duplicated = chunks.slice();
        duplicated.splice(i, 0, chunks[i] as Uint8Array);
        expect(
          await rejects(
            decryptChunked(key, concat(ct.subarray(0, CHUNKED_HEADER_BYTES), ...duplicated), ctx),
          ),
        ).toBe(true);
      }),
      { numRuns: 25 },
    );
  });

  it('rejects another key or context at the header, before any chunk', async () => {
    const ct = await encryptChunked(key, new Uint8Array(40_000), ctx);
    const otherKey = key.slice();
    otherKey[0] = (otherKey[0] as number) ^ 1;
    const dec = createChunkedDecryptor(otherKey, ctx);
    await expect(dec.push(ct.subarray(0, CHUNKED_HEADER_BYTES))).rejects.toMatchObject({
      code: 'AUTH_FAILED',
    });
    await expect(decryptChunked(key, ct, new Uint8Array([0x63, 0x74]))).rejects.toMatchObject({
      code: 'AUTH_FAILED',
    });
  });

  it('withholds a full chunk until it is known not to be the last', async () => {
    const pt = new Uint8Array(CHUNK_BYTES + 5).fill(9);
    const ct = await encryptChunked(key, pt, ctx);
    const dec = createChunkedDecryptor(key, ctx);
    expect((await dec.push(ct.subarray(0, CHUNKED_HEADER_BYTES + SEALED_CHUNK_BYTES))).length).toBe(0);
    expect((await dec.push(ct.subarray(CHUNKED_HEADER_BYTES + SEALED_CHUNK_BYTES, -1))).length).toBe(
      CHUNK_BYTES,
    );
    expect(await dec.push(ct.subarray(-1))).toEqual(new Uint8Array(0));
    expect(await dec.finish()).toEqual(pt.subarray(CHUNK_BYTES));
  });

  it('reports a cut at a chunk boundary as TRUNCATED', async () => {
    const ct = await encryptChunked(key, new Uint8Array(CHUNK_BYTES * 2), ctx);
    await expect(
      decryptChunked(key, ct.subarray(0, CHUNKED_HEADER_BYTES + SEALED_CHUNK_BYTES), ctx),
    ).rejects.toMatchObject({
      code: 'TRUNCATED',
    });
    await expect(decryptChunked(key, ct.subarray(0, 30), ctx)).rejects.toMatchObject({ code: 'TRUNCATED' });
  });

  it('enforces maxChunks on both sides and refuses use after finish', async () => {
    const enc = createChunkedEncryptor(key, ctx, { maxChunks: 2 });
    expect((await enc.push(new Uint8Array(2 * CHUNK_BYTES))).length).toBe(
      CHUNKED_HEADER_BYTES + 2 * SEALED_CHUNK_BYTES,
    );
    // The empty final chunk would be the third.
    await expect(enc.finish()).rejects.toMatchObject({ code: 'BAD_LENGTH' });
    const ct = await encryptChunked(key, new Uint8Array(2 * CHUNK_BYTES), ctx);
    await expect(decryptChunked(key, ct, ctx, { maxChunks: 2 })).rejects.toMatchObject({
      code: 'BAD_LENGTH',
    });
    const done = createChunkedEncryptor(key, ctx);
    await done.finish();
    await expect(done.push(new Uint8Array(1))).rejects.toMatchObject({ code: 'BAD_STATE' });
  });
});

describe('bounded concurrency of the chunk calls', () => {
  it('never has more than CHUNKS_IN_FLIGHT AEAD calls running, in either direction', async () => {
    let running = 0;
    let peak = 0;
    // Counts the calls of one bound key; each yields to the event loop so calls overlap.
    const counting: AesGcm = {
      ...nobleAesGcm,
      async withKey(key) {
        const k = await nobleAesGcm.withKey(key);
        const counted =
          <A extends unknown[]>(f: (...a: A) => Promise<Uint8Array>) =>
          async (...a: A) => {
            peak = Math.max(peak, ++running);
            try {
              await new Promise((r) => setTimeout(r, 0));
              return await f(...a);
            } finally {
              running--;
            }
          };
        return { encrypt: counted(k.encrypt), decrypt: counted(k.decrypt), dispose: k.dispose };
      },
    };
    const key = new Uint8Array(32).fill(3);
    const data = new Uint8Array(100 * CHUNK_BYTES + 5).map((_, i) => i & 0xff);
    const ct = await encryptChunked(key, data, ctx, { aead: counting, random: fixedSalt(4) });
    expect(peak).toBe(CHUNKS_IN_FLIGHT);
    expect(ct).toEqual(await encryptChunked(key, data, ctx, { aead: nobleAesGcm, random: fixedSalt(4) }));
    peak = 0;
    expect(await decryptChunked(key, ct, ctx, { aead: counting })).toEqual(data);
    expect(peak).toBe(CHUNKS_IN_FLIGHT);
  });
});

describe('TransformStream adapter', () => {
  async function pipe(pieces: Uint8Array[], t: ReturnType<typeof transformerOf>): Promise<Uint8Array> {
    const source = new ReadableStream<Uint8Array>({
      start(c) {
        for (const p of pieces) c.enqueue(p);
        c.close();
      },
    });
    const out: Uint8Array[] = [];
    const reader = source.pipeThrough(new TransformStream(t)).getReader();
    for (let r = await reader.read(); !r.done; r = await reader.read()) out.push(r.value);
    return concat(...out);
  }

  it('pipes through WHATWG streams in both directions and errors the stream on tampering', async () => {
    const pt = new Uint8Array(40_000).map((_, i) => i & 0xff);
    const ct = await pipe(
      cut(pt, [5000]),
      transformerOf(createChunkedEncryptor(key, ctx, { random: fixedSalt(3) })),
    );
    expect(ct).toEqual(await encryptChunked(key, pt, ctx, { random: fixedSalt(3) }));
    expect(await pipe(cut(ct, [7000]), transformerOf(createChunkedDecryptor(key, ctx)))).toEqual(pt);
    const bad = ct.slice();
    bad[bad.length - 1] = (bad[bad.length - 1] as number) ^ 1;
    await expect(
      pipe(cut(bad, [7000]), transformerOf(createChunkedDecryptor(key, ctx))),
    ).rejects.toMatchObject({
      code: 'AUTH_FAILED',
    });
    await expect(
      pipe(cut(ct.subarray(0, -20), [7000]), transformerOf(createChunkedDecryptor(key, ctx))),
    ).rejects.toMatchObject({
      code: expect.stringMatching(/TRUNCATED|AUTH_FAILED/),
    });
    expect(() => transformerOf({} as never)).toThrow(CryptoCoreError);
  });
});
