/**
 * Length hiding (spec/protocol.md §9.1, §10.2): Padmé (Nikitin, Barman, Lueks, Underwood,
 * Hubaux, Ford, "Reducing Metadata Leakage from Encrypted Files and Communication with
 * PURBs", PoPETs 2019(4), §4) rounds a length L so that only O(log log L) bits of it
 * remain, at most 12 % overhead. Message frames are rounded up further to 160-byte
 * blocks so that every short text looks alike; photos are padded to Padmé alone.
 */
import { expectInt } from './bytes.js';
import { MAX_PHOTO_BYTES } from './photo-metadata.js';

/** Block size of a padded content frame (spec §9.1): every frame is a multiple of it. */
export const FRAME_BLOCK_BYTES = 160;
/** Bytes before the body in a content frame: u64 sentAt ‖ u64 order (spec §9.1). */
export const FRAME_PREFIX_BYTES = 16;

/**
 * Padmé of the PURBs paper (§4, Algorithm 1): with E = ⌊log2 L⌋ and S = ⌊log2 E⌋ + 1, the
 * low E − S bits of L are rounded up to zero. padme(1) = 1 (the paper starts at L ≥ 2).
 *
 * @example
 * padme(1000); // 1024
 */
export function padme(length: number): number {
  expectInt(length, 'length', 1, Number.MAX_SAFE_INTEGER);
  if (length < 2) return length;
  const e = floorLog2(length);
  const s = floorLog2(e) + 1;
  const step = 2 ** (e - s);
  return Math.ceil(length / step) * step;
}

/** ⌊log2 n⌋ for a safe integer n ≥ 1, exactly (no floating-point logarithm). */
function floorLog2(n: number): number {
  let e = 0;
  while (2 ** (e + 1) <= n) e++;
  return e;
}

/**
 * Length of the padded content frame of a body of `bodyLength` bytes (spec §9.1):
 * roundUp(padme(16 + bodyLength + 1), 160).
 *
 * @example
 * paddedFrameLength(1); // 160
 */
export function paddedFrameLength(bodyLength: number): number {
  expectInt(bodyLength, 'body length', 0, Number.MAX_SAFE_INTEGER - FRAME_PREFIX_BYTES - 1);
  const padded = padme(FRAME_PREFIX_BYTES + bodyLength + 1);
  return Math.ceil(padded / FRAME_BLOCK_BYTES) * FRAME_BLOCK_BYTES;
}

/**
 * Bytes a photo of `byteLength` bytes is zero-padded to before encryption (spec §10.2):
 * min(padme(n), MAX_PHOTO_BYTES).
 *
 * @example
 * paddedPhotoLength(1_000_000); // 1_015_808
 */
export function paddedPhotoLength(byteLength: number): number {
  expectInt(byteLength, 'photo length', 1, MAX_PHOTO_BYTES);
  return Math.min(padme(byteLength), MAX_PHOTO_BYTES);
}
