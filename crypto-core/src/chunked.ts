/**
 * C2SP chunked encryption, instantiated as Cobblestone-256: AES-256-GCM with HKDF-Expand
 * over SHA-512 (c2sp.org/chunked-encryption; spec/protocol.md §10.2). Ciphertext =
 * salt (24) ‖ commitment (32) ‖ sealed chunks. Streaming in both directions: an encryptor
 * and a decryptor that take bytes piece by piece, plus async-iterable and one-shot forms.
 *
 * What this module does not know: photos, messages or where the input key comes from.
 */

import { concat, expectBytes } from './bytes.js';
import { type ChunkedOptions, startOpening, startSealing } from './chunked-header.js';
import { fail } from './errors.js';

export {
  CHUNKED_HEADER_BYTES,
  type ChunkedKeys,
  type ChunkedOptions,
  COMMITMENT_BYTES,
  deriveChunkedKeys,
  MAX_CONTEXT_BYTES,
  SALT_BYTES,
} from './chunked-header.js';
export { CHUNK_BYTES, SEALED_CHUNK_BYTES } from './chunked-raw.js';

/**
 * Encrypts a message piece by piece; the concatenation of all outputs is the ciphertext.
 * Do not modify a buffer passed to `push` until its promise settles.
 *
 * @example
 * const enc: ChunkedEncryptor = createChunkedEncryptor(key, ctx);
 */
export interface ChunkedEncryptor {
  /** Encrypts what fills whole 16 KiB chunks; returns their ciphertext (the header first time). */
  push(plaintext: Uint8Array): Promise<Uint8Array>;
  /** Encrypts the final short chunk and returns the rest of the ciphertext. */
  finish(): Promise<Uint8Array>;
  /** Drops the keys and buffered plaintext without producing more output. */
  abort(): void;
}

/**
 * Decrypts a ciphertext piece by piece, releasing only authenticated plaintext. The message
 * is complete only when `finish` resolves.
 *
 * @example
 * const dec: ChunkedDecryptor = createChunkedDecryptor(key, ctx);
 */
export interface ChunkedDecryptor {
  /** Consumes ciphertext; returns the plaintext of every chunk that is now verified. */
  push(ciphertext: Uint8Array): Promise<Uint8Array>;
  /** Verifies the final chunk (TRUNCATED if missing) and returns its plaintext. */
  finish(): Promise<Uint8Array>;
}

/**
 * Starts encrypting one message under `inputKey` (32 uniformly random bytes) and
 * `context` (application data bound into the key derivation; may be empty).
 *
 * @example
 * const enc = createChunkedEncryptor(inputKey, context);
 * const parts = [await enc.push(part1), await enc.push(part2), await enc.finish()];
 */
export function createChunkedEncryptor(
  inputKey: Uint8Array,
  context: Uint8Array,
  options: ChunkedOptions = {},
): ChunkedEncryptor {
  const sealer = startSealing(inputKey, context, options);
  return {
    push: async (plaintext) => concat(...(await sealer.pushParts(plaintext))),
    finish: async () => concat(...(await sealer.finishParts())),
    abort: () => sealer.abort(),
  };
}

/**
 * Starts decrypting one message. The header is checked (commitment compared in constant
 * time) before any chunk is opened: a wrong key or context is AUTH_FAILED, a ciphertext
 * shorter than its header TRUNCATED, a tampered chunk AUTH_FAILED. A failed decryptor
 * keeps failing.
 *
 * @example
 * const dec = createChunkedDecryptor(inputKey, context);
 * for await (const piece of download) show(await dec.push(piece));
 * show(await dec.finish());
 */
export function createChunkedDecryptor(
  inputKey: Uint8Array,
  context: Uint8Array,
  options: ChunkedOptions = {},
): ChunkedDecryptor {
  const opener = startOpening(inputKey, context, options);
  return {
    push: async (ciphertext) => concat(...(await opener.pushParts(ciphertext))),
    finish: async () => concat(...(await opener.finishParts())),
  };
}

/**
 * Encrypts a whole message at once.
 *
 * @example
 * const ciphertext = await encryptChunked(inputKey, plaintext, context);
 */
export async function encryptChunked(
  inputKey: Uint8Array,
  plaintext: Uint8Array,
  context: Uint8Array,
  options: ChunkedOptions = {},
): Promise<Uint8Array> {
  expectBytes(plaintext, 'plaintext');
  const sealer = startSealing(inputKey, context, options);
  const body = await sealer.pushParts(plaintext);
  return concat(...body, ...(await sealer.finishParts()));
}

/**
 * Decrypts a whole message at once; throws instead of returning any unauthenticated byte.
 *
 * @example
 * const plaintext = await decryptChunked(inputKey, ciphertext, context);
 */
export async function decryptChunked(
  inputKey: Uint8Array,
  ciphertext: Uint8Array,
  context: Uint8Array,
  options: ChunkedOptions = {},
): Promise<Uint8Array> {
  expectBytes(ciphertext, 'ciphertext');
  const opener = startOpening(inputKey, context, options);
  const body = await opener.pushParts(ciphertext);
  return concat(...body, ...(await opener.finishParts()));
}

/** Any source of byte pieces: an array, a generator, a ReadableStream in modern runtimes. */
export type ByteSource = AsyncIterable<Uint8Array> | Iterable<Uint8Array>;

/**
 * Encrypts a stream of plaintext pieces, yielding ciphertext pieces (empty ones skipped).
 *
 * @example
 * for await (const piece of encryptChunkedStream(file.stream(), inputKey, context)) upload(piece);
 */
export async function* encryptChunkedStream(
  source: ByteSource,
  inputKey: Uint8Array,
  context: Uint8Array,
  options: ChunkedOptions = {},
): AsyncGenerator<Uint8Array, void, undefined> {
  const enc = createChunkedEncryptor(inputKey, context, options);
  let finished = false;
  try {
    for await (const piece of source) {
      const out = await enc.push(piece);
      if (out.length > 0) yield out;
    }
    finished = true;
    yield await enc.finish();
  } finally {
    if (!finished) enc.abort();
  }
}

/**
 * Decrypts a stream of ciphertext pieces, yielding authenticated plaintext pieces; throws
 * (after possibly yielding a verified prefix) if the ciphertext is tampered or truncated.
 *
 * @example
 * for await (const piece of decryptChunkedStream(response.body, inputKey, context)) write(piece);
 */
export async function* decryptChunkedStream(
  source: ByteSource,
  inputKey: Uint8Array,
  context: Uint8Array,
  options: ChunkedOptions = {},
): AsyncGenerator<Uint8Array, void, undefined> {
  const dec = createChunkedDecryptor(inputKey, context, options);
  for await (const piece of source) {
    const out = await dec.push(piece);
    if (out.length > 0) yield out;
  }
  const last = await dec.finish();
  if (last.length > 0) yield last;
}

/** The part of a WHATWG TransformStream controller used here (declared locally: no DOM types). */
export interface ByteSink {
  enqueue(chunk: Uint8Array): void;
}

/** A transformer for `new TransformStream(…)`, with bytes in and bytes out. */
export interface ByteTransformer {
  transform(chunk: Uint8Array, controller: ByteSink): Promise<void>;
  flush(controller: ByteSink): Promise<void>;
}

/**
 * Adapts any push/finish codec of this package (chunked or photo encryptor/decryptor) to a
 * TransformStream transformer, so a download or upload can be piped through it. A failure
 * errors the stream; with a decryptor, the stream ends normally only if `finish` verified
 * the whole message.
 *
 * @example
 * const plain = response.body.pipeThrough(new TransformStream(transformerOf(createPhotoDecryptor(mk, header, meta))));
 * // a photo encryptor's finish() returns more than bytes: keep its result, hand on the tail
 * let sealed; const t = transformerOf({ push: (b) => enc.push(b), finish: async () => (sealed = await enc.finish()).tail });
 */
export function transformerOf(codec: {
  push(bytes: Uint8Array): Promise<Uint8Array>;
  finish(): Promise<Uint8Array>;
}): ByteTransformer {
  if (
    typeof codec !== 'object' ||
    codec === null ||
    typeof codec.push !== 'function' ||
    typeof codec.finish !== 'function'
  )
    fail('BAD_TYPE', 'codec must have push and finish');
  return {
    async transform(chunk, controller) {
      const out = await codec.push(chunk);
      if (out.length > 0) controller.enqueue(out);
    },
    async flush(controller) {
      const out = await codec.finish();
      if (out.length > 0) controller.enqueue(out);
    },
  };
}
