/**
 * The chunk layer of C2SP chunked encryption (c2sp.org/chunked-encryption, "AEAD usage"
 * and "Message chunking"; spec/protocol.md §10.2): a message split into 16 KiB chunks,
 * the last one always shorter (possibly empty), each sealed with AES-256-GCM under one key
 * and the base nonce XOR the chunk index. This is the spec's "raw mode" (no salt, no
 * commitment); it is internal — applications use chunked.ts, which adds the header.
 *
 * What this module does not know: where the key and base nonce come from.
 */
import type { AesGcm, KeyedAesGcm } from './aes-gcm.js';
import { AES_KEY_BYTES, GCM_NONCE_BYTES, GCM_TAG_BYTES } from './aes-gcm.js';
import { concat, expectBytes, expectInt, wipe } from './bytes.js';
import { fail } from './errors.js';

/** Plaintext bytes per chunk (C2SP: 16 KiB, the TLS 1.3 record size). */
export const CHUNK_BYTES = 16_384;
/** Bytes of one full encrypted chunk: 16 KiB of ciphertext plus the GCM tag. */
export const SEALED_CHUNK_BYTES = CHUNK_BYTES + GCM_TAG_BYTES;
/** C2SP: the chunk counter MUST stay below 2^38 (4 PiB). */
export const MAX_CHUNKS_C2SP = 2 ** 38;

const EMPTY = new Uint8Array(0);

/** Nonce of chunk `index`: base nonce XOR index as a 96-bit big-endian integer. */
export function chunkNonce(baseNonce: Uint8Array, index: number): Uint8Array {
  const nonce = baseNonce.slice();
  let rest = index;
  // The index is < 2^38, so only the last 5 bytes change; division keeps it exact above 2^32.
  for (let i = GCM_NONCE_BYTES - 1; i >= GCM_NONCE_BYTES - 5 && rest > 0; i--) {
    nonce[i] = (nonce[i] as number) ^ (rest % 256);
    rest = Math.floor(rest / 256);
  }
  return nonce;
}

/**
 * WebCrypto calls kept in flight at once per push. Enough to keep the runtime's worker
 * threads busy (measured: no slower than issuing every chunk at once), while a 25 MB push
 * no longer makes the runtime hold a copy of every 16 KiB input at the same time.
 */
export const CHUNKS_IN_FLIGHT = 16;

/**
 * Runs `task` over `items` with at most `limit` running at once; results in input order.
 * After the first failure no new task starts; it is rethrown once those in flight settle.
 */
async function mapBounded<T, R>(
  items: readonly T[],
  limit: number,
  task: (item: T) => Promise<R>,
): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  let failure: { error: unknown } | undefined;
  const worker = async (): Promise<void> => {
    while (failure === undefined && next < items.length) {
      const i = next++;
      try {
        out[i] = await task(items[i] as T);
      } catch (error) {
        failure ??= { error };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  if (failure !== undefined) throw failure.error;
  return out;
}

/** Marks promises abandoned after a failure as handled, so none rejects unobserved. */
function settle(promises: Promise<unknown>[]): void {
  for (const p of promises) p.catch(() => undefined);
}

function checkKeys(key: Uint8Array, baseNonce: Uint8Array, maxChunks: number): void {
  expectBytes(key, 'chunk key', AES_KEY_BYTES);
  expectBytes(baseNonce, 'base nonce', GCM_NONCE_BYTES);
  expectInt(maxChunks, 'maxChunks', 1, MAX_CHUNKS_C2SP);
}

/**
 * What sealing and opening share: the key, bound once (imported once by WebCrypto), the
 * base nonce (copied) and the chunk counter that gives each chunk its nonce.
 */
class ChunkSequence {
  readonly keyed: Promise<KeyedAesGcm>;
  private readonly baseNonce: Uint8Array;
  private index = 0;

  constructor(
    aead: AesGcm,
    key: Uint8Array,
    baseNonce: Uint8Array,
    private readonly maxChunks: number,
  ) {
    checkKeys(key, baseNonce, maxChunks);
    this.keyed = aead.withKey(key);
    settle([this.keyed]);
    this.baseNonce = baseNonce.slice();
  }

  /** The next chunk's nonce (the index is its position in the message, C2SP "AEAD usage"). */
  nextNonce(): Uint8Array {
    if (this.index >= this.maxChunks) fail('BAD_LENGTH', `message exceeds ${this.maxChunks} chunks`);
    return chunkNonce(this.baseNonce, this.index++);
  }

  /** Wipes the base nonce and releases the key. */
  dispose(): void {
    wipe(this.baseNonce);
    this.keyed.then(
      (k) => k.dispose(),
      () => undefined,
    );
  }
}

/**
 * Seals chunks as input arrives. Full chunks are sealed as soon as they fill (the final
 * chunk is always short, so a full one is never the last); `finish` seals the short tail.
 * All full chunks of one `push` are sealed concurrently, which lets WebCrypto pipeline.
 */
export class RawChunkEncryptor {
  private readonly buffer = new Uint8Array(CHUNK_BYTES);
  private filled = 0;
  private done = false;
  private readonly seq: ChunkSequence;

  /** The key is bound once (imported once by WebCrypto); `baseNonce` is copied. */
  constructor(aead: AesGcm, key: Uint8Array, baseNonce: Uint8Array, maxChunks: number = MAX_CHUNKS_C2SP) {
    this.seq = new ChunkSequence(aead, key, baseNonce, maxChunks);
  }

  /** Seals what fills whole chunks; returns the sealed chunks (kept apart: one copy at the top). */
  async push(data: Uint8Array): Promise<Uint8Array[]> {
    expectBytes(data, 'plaintext');
    if (this.done) fail('BAD_STATE', 'encryptor already finished');
    // Nonces are fixed here, in order; the calls then run CHUNKS_IN_FLIGHT at a time.
    const chunks: { nonce: Uint8Array; plain: Uint8Array }[] = [];
    let at = 0;
    try {
      if (this.filled > 0) {
        const take = Math.min(CHUNK_BYTES - this.filled, data.length);
        this.buffer.set(data.subarray(0, take), this.filled);
        this.filled += take;
        at = take;
        if (this.filled === CHUNK_BYTES) {
          // A copy: the buffer is refilled below, possibly before the backend reads it.
          chunks.push({ nonce: this.seq.nextNonce(), plain: this.buffer.slice() });
          this.filled = 0;
        }
      }
      while (data.length - at >= CHUNK_BYTES) {
        chunks.push({ nonce: this.seq.nextNonce(), plain: data.subarray(at, at + CHUNK_BYTES) });
        at += CHUNK_BYTES;
      }
      this.buffer.set(data.subarray(at), this.filled);
      this.filled += data.length - at;
      const k = await this.seq.keyed;
      return await mapBounded(chunks, CHUNKS_IN_FLIGHT, (c) => k.encrypt(c.nonce, c.plain, EMPTY));
    } catch (e) {
      this.abort();
      throw e;
    }
  }

  /** Seals the final short chunk (empty when the message is a multiple of 16 KiB). */
  async finish(): Promise<Uint8Array> {
    if (this.done) fail('BAD_STATE', 'encryptor already finished');
    try {
      const nonce = this.seq.nextNonce();
      const plain = this.buffer.slice(0, this.filled);
      return await (await this.seq.keyed).encrypt(nonce, plain, EMPTY);
    } finally {
      this.abort();
    }
  }

  /** Wipes the key and buffered plaintext; the encryptor is unusable afterwards. */
  abort(): void {
    this.done = true;
    wipe(this.buffer);
    this.seq.dispose();
  }
}

/**
 * Opens chunks as ciphertext arrives and releases a chunk's plaintext only after its tag
 * verifies. A full-length sealed chunk is held back until at least one more byte arrives,
 * because only then is it known not to be the last (a full last chunk means truncation,
 * C2SP "Implementation notes"). After any failure every later call fails too.
 */
export class RawChunkDecryptor {
  private pending: Uint8Array = EMPTY;
  private state: 'open' | 'done' | 'failed' = 'open';
  private readonly seq: ChunkSequence;

  /** The key is bound once (imported once by WebCrypto); `baseNonce` is copied. */
  constructor(aead: AesGcm, key: Uint8Array, baseNonce: Uint8Array, maxChunks: number = MAX_CHUNKS_C2SP) {
    this.seq = new ChunkSequence(aead, key, baseNonce, maxChunks);
  }

  private usable(): void {
    if (this.state === 'failed') fail('AUTH_FAILED', 'chunked ciphertext already failed to decrypt');
    if (this.state === 'done') fail('BAD_STATE', 'decryptor already finished');
  }

  private async open(sealed: Uint8Array): Promise<Uint8Array> {
    const nonce = this.seq.nextNonce();
    return (await this.seq.keyed).decrypt(nonce, sealed, EMPTY);
  }

  /**
   * Opens every chunk known not to be the last; returns their plaintexts, all verified
   * (nothing is returned unless every chunk of this push verifies).
   */
  async push(data: Uint8Array): Promise<Uint8Array[]> {
    expectBytes(data, 'ciphertext');
    this.usable();
    const all = this.pending.length > 0 ? concat(this.pending, data) : data;
    // Nonces are fixed here, in order; the calls then run CHUNKS_IN_FLIGHT at a time.
    const chunks: { nonce: Uint8Array; sealed: Uint8Array }[] = [];
    let at = 0;
    try {
      // Strictly more than one sealed chunk left: the first of them is not the final chunk.
      while (all.length - at > SEALED_CHUNK_BYTES) {
        chunks.push({ nonce: this.seq.nextNonce(), sealed: all.subarray(at, at + SEALED_CHUNK_BYTES) });
        at += SEALED_CHUNK_BYTES;
      }
      this.pending = all.slice(at);
      const k = await this.seq.keyed;
      return await mapBounded(chunks, CHUNKS_IN_FLIGHT, (c) => k.decrypt(c.nonce, c.sealed, EMPTY));
    } catch (e) {
      this.poison();
      throw e;
    }
  }

  /** Opens the final chunk; a missing, partial or full-length final chunk is TRUNCATED. */
  async finish(): Promise<Uint8Array> {
    this.usable();
    const last = this.pending;
    try {
      if (last.length < GCM_TAG_BYTES || last.length === SEALED_CHUNK_BYTES)
        fail('TRUNCATED', 'chunked ciphertext is truncated (no short final chunk)');
      const plain = await this.open(last);
      this.state = 'done';
      this.seq.dispose();
      return plain;
    } catch (e) {
      this.poison();
      throw e;
    }
  }

  private poison(): void {
    this.state = 'failed';
    this.pending = EMPTY;
    this.seq.dispose();
  }
}
