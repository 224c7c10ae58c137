// @ts-check
// The published release public keys: verify/release-key.pub, one base64url Ed25519 key a line
// ('#' starts a comment). The README repeats the current one.
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';

export const publishedKeyFile = resolve(import.meta.dirname, '../release-key.pub');

/** @param {string} [file] @returns {string[]} */
export function publishedKeys(file = publishedKeyFile) {
  return readFileSync(file, 'utf8')
    .split('\n')
    .map((line) => line.replace(/#.*/, '').trim())
    .filter((line) => line.length > 0);
}
