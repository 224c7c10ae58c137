/**
 * Locates the Wycheproof vectors outside the repository (TEAM.md: they live in
 * ../shared/vectors/wycheproof relative to the repo root and are never copied in).
 * When the folder is absent (a fresh clone), the suites that need it are skipped with
 * a visible message, and every other test still runs.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
/** ../shared/vectors/wycheproof beside the repo; SD_WYCHEPROOF_DIR overrides it (e.g. to check the skip path). */
export const WYCHEPROOF_DIR =
  process.env.SD_WYCHEPROOF_DIR ?? resolve(repoRoot, '../shared/vectors/wycheproof');

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

/** True when the named vector file exists; otherwise warns once, visibly, and returns false. */
export function hasWycheproof(file: string): boolean {
  const present = existsSync(resolve(WYCHEPROOF_DIR, file));
  if (!present)
    console.warn(
      `SKIPPED: Wycheproof vectors not found at ${resolve(WYCHEPROOF_DIR, file)}; those cases do not run.`,
    );
  return present;
}

/** Parses a vector file; call only after {@link hasWycheproof} returned true. */
export function loadWycheproof(file: string): WycheproofFile {
  return JSON.parse(readFileSync(resolve(WYCHEPROOF_DIR, file), 'utf8')) as WycheproofFile;
}

export const hex = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s, 'hex'));
export const toHex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
