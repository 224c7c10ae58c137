/**
 * Draws bytes from an injected RandomSource and checks what comes back, so a wrong
 * argument or a broken source is a CryptoCoreError, never a TypeError or short key.
 */
import { expectBytes } from './bytes.js';
import type { RandomSource } from './deps.js';
import { fail } from './errors.js';

export function draw(random: RandomSource, n: number): Uint8Array {
  if (typeof random !== 'function') fail('BAD_TYPE', 'random must be a function');
  return expectBytes(random(n), 'random output', n).slice();
}
