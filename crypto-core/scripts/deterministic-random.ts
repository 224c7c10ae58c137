/**
 * A deterministic byte stream for test vectors and tests (never for real keys):
 * block i = SHA-256(utf8(label) ‖ u32be(i)), blocks concatenated and consumed in order.
 * spec/vectors/README.md documents it so anyone can regenerate the vectors.
 */
import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex } from '@noble/hashes/utils.js';
import type { RandomSource } from '../src/deps.js';

export function deterministicRandom(label: string): RandomSource {
  const prefix = new TextEncoder().encode(label);
  let block = 0;
  let buf = new Uint8Array(0);
  return (n: number) => {
    while (buf.length < n) {
      const input = new Uint8Array(prefix.length + 4);
      input.set(prefix);
      new DataView(input.buffer).setUint32(prefix.length, block++);
      const next = new Uint8Array(buf.length + 32);
      next.set(buf);
      next.set(sha256(input), buf.length);
      buf = next;
    }
    const out = buf.slice(0, n);
    buf = buf.slice(n);
    return out;
  };
}

/** deterministicRandom(label) that also records every draw (hex), so a vector file can list them in order. */
export function recording(label: string): { random: RandomSource; draws: string[] } {
  const inner = deterministicRandom(label);
  const draws: string[] = [];
  return {
    draws,
    random: (n) => {
      const out = inner(n);
      draws.push(bytesToHex(out));
      return out;
    },
  };
}
