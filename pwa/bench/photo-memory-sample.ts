// One sample of bench/photo-memory.ts (or, with `prepare`, the inputs of all), run in a
// fresh plain-Node process from a bundle of
// this file (no TypeScript loader in the process, so nothing but the work and its inputs
// sets the peak). Prints {peakKiB, ms}: the process's peak resident set and the time of the
// work. The peak is Linux's VmHWM (/proc/self/status), the high-water mark of this program's
// own memory; getrusage's maxRSS would not do: Linux carries it over from the parent that
// forked this process.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createPhotoDecryptor, encryptPhoto } from '@secure-drop/crypto-core/photo';
import { MAX_PHOTO_BYTES, type PhotoMetadata } from '@secure-drop/crypto-core/photo-metadata';
import { expectedCiphertextBytes, newPhotoKey, openPhoto, sealPhoto } from '../src/photo/seal.ts';

/** The announced size of the sample photo. */
const SIZE = { width: 2560, height: 1920 };

/** The inputs of every sample, written once into `dir`: a 25,000,000-byte photo and its blob. */
async function prepare(dir: string): Promise<void> {
  const key = newPhotoKey();
  const photo = new Uint8Array(MAX_PHOTO_BYTES);
  for (let i = 0; i < photo.length; i += 65_536) crypto.getRandomValues(photo.subarray(i, i + 65_536));
  // A PNG's signature and header (PNG §11.2.2, 2560 × 1920): the receiver checks that the
  // opened bytes are of the announced type and size (spec/protocol.md §10.5).
  photo.set([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13, 0x49, 0x48, 0x44, 0x52]);
  new DataView(photo.buffer).setUint32(16, SIZE.width);
  new DataView(photo.buffer).setUint32(20, SIZE.height);
  photo.set([8, 6, 0, 0, 0], 24);
  const sealed = await encryptPhoto(key, photo);
  writeFileSync(join(dir, 'keys.bin'), key);
  writeFileSync(join(dir, 'photo.bin'), photo);
  writeFileSync(join(dir, 'ciphertext.bin'), sealed.ciphertext);
  const meta = {
    mime: 'image/png',
    ...SIZE,
    byteLength: photo.length,
    ciphertextSha256: Buffer.from(sealed.ciphertextSha256).toString('hex'),
  };
  writeFileSync(join(dir, 'meta.json'), JSON.stringify(meta));
}

/**
 * The opening photo/seal.ts would do with the streaming decryptor, measured against its
 * one-shot openPhoto: the whole blob's length and digest first (the errors of a one-shot
 * receiver, spec §10.5), then 1 MiB pieces decrypted straight into the one output array.
 */
async function openStreamed(key: Uint8Array, meta: PhotoMetadata, blob: Uint8Array): Promise<Uint8Array> {
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', blob as Uint8Array<ArrayBuffer>));
  if (
    blob.length !== expectedCiphertextBytes(meta) ||
    !digest.every((b, i) => b === meta.ciphertextSha256[i])
  )
    throw new Error('DIGEST_MISMATCH');
  const dec = createPhotoDecryptor(key, meta);
  const photo = new Uint8Array(meta.byteLength);
  let filled = 0;
  const put = (part: Uint8Array) => {
    photo.set(part, filled);
    filled += part.length;
  };
  for (let at = 0; at < blob.length; at += 1024 * 1024)
    put(await dec.push(blob.subarray(at, at + 1024 * 1024)));
  put(await dec.finish());
  return photo;
}

const bytesOf = (file: string) => {
  const b = readFileSync(file);
  return new Uint8Array(b.buffer, b.byteOffset, b.length);
};

async function sample(mode: string, dir: string): Promise<void> {
  const k = bytesOf(join(dir, 'keys.bin'));
  const key = k.slice(0, 32);
  const meta = JSON.parse(readFileSync(join(dir, 'meta.json'), 'utf8'));
  meta.ciphertextSha256 = Uint8Array.from(Buffer.from(meta.ciphertextSha256, 'hex'));
  meta.photoKey = key;
  const input = bytesOf(join(dir, mode.startsWith('seal') ? 'photo.bin' : 'ciphertext.bin'));
  const photo = {
    bytes: input,
    mime: 'image/png' as const,
    ...SIZE,
    thumbnail: new Uint8Array(0),
  };
  const t0 = performance.now();
  // The result is kept until the peak is read, as the caller keeps it (to upload or show).
  let kept: unknown = mode.endsWith('loaded') ? input : undefined;
  if (mode === 'seal-one-shot') kept = await encryptPhoto(key, input);
  if (mode === 'seal-streamed') kept = await sealPhoto(key, photo);
  if (mode === 'seal-streamed-bytes') {
    const sealed = await sealPhoto(key, photo);
    kept = [sealed, new Uint8Array(await sealed.ciphertext.arrayBuffer())];
  }
  if (mode === 'open-one-shot') kept = await openPhoto(meta, input);
  if (mode === 'open-streamed') kept = await openStreamed(key, meta, input);
  const ms = performance.now() - t0;
  if (kept === undefined) throw new Error(`unknown mode ${mode}`);
  const hwm = /^VmHWM:\s+(\d+) kB$/m.exec(readFileSync('/proc/self/status', 'utf8'));
  if (!hwm) throw new Error('no VmHWM in /proc/self/status (Linux only)');
  process.stdout.write(JSON.stringify({ peakKiB: Number(hwm[1]), ms }));
}

const [mode, dir] = process.argv.slice(2) as [string, string];
if (mode === 'prepare') await prepare(dir);
else await sample(mode, dir);
