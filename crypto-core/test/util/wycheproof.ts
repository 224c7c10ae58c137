/**
 * Loads the Project Wycheproof vectors kept in the repository (test/vectors/wycheproof: the
 * files the suites read, their provenance in README.md there, Apache-2.0 in LICENSE). A missing
 * or unreadable file throws, so the suite that needs it fails instead of skipping.
 */
import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const WYCHEPROOF_DIR = fileURLToPath(new URL('../vectors/wycheproof/', import.meta.url));

export interface WycheproofTest {
  tcId: number;
  comment: string;
  result: 'valid' | 'invalid' | 'acceptable';
  flags: string[];
  [field: string]: unknown;
}
export interface WycheproofGroup {
  tests: WycheproofTest[];
  [field: string]: unknown;
}
export interface WycheproofFile {
  algorithm: string;
  numberOfTests: number;
  testGroups: WycheproofGroup[];
}

/** Parses a vector file of test/vectors/wycheproof; throws when it is missing or has no tests. */
export function loadWycheproof(file: string): WycheproofFile {
  const path = resolve(WYCHEPROOF_DIR, file);
  if (!existsSync(path)) throw new Error(`Wycheproof vector file missing: ${path}`);
  const data = JSON.parse(readFileSync(path, 'utf8')) as WycheproofFile;
  const count = data.testGroups?.reduce((n, g) => n + (g.tests?.length ?? 0), 0) ?? 0;
  if (count === 0) throw new Error(`Wycheproof vector file has no tests: ${path}`);
  return data;
}

export const hex = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s, 'hex'));
export const toHex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
