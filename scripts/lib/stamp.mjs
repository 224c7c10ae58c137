// Content stamps: a step (npm ci, a build, a pip install) reruns only when the files it depends
// on changed. A stamp file holds the sha256 of those files' paths and contents.
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, sep } from 'node:path';

const SKIP_DIRS = new Set(['node_modules', 'dist', '.venv', '.data', '__pycache__', '.git', 'coverage']);

/** Every file under `entries` (files or directories), sorted, skipping build output and caches. */
export function listFiles(root, entries) {
  const out = [];
  const walk = (abs) => {
    if (!existsSync(abs)) return;
    const st = statSync(abs);
    if (st.isDirectory()) {
      for (const name of readdirSync(abs).sort()) {
        if (!SKIP_DIRS.has(name)) walk(join(abs, name));
      }
    } else if (st.isFile()) {
      out.push(abs);
    }
  };
  for (const entry of entries) walk(join(root, entry));
  return out.sort();
}

/** sha256 over the relative paths and contents of the files under `entries`. */
export function hashInputs(root, entries) {
  const hash = createHash('sha256');
  for (const file of listFiles(root, entries)) {
    hash.update(relative(root, file).split(sep).join('/'));
    hash.update('\0');
    hash.update(readFileSync(file));
    hash.update('\0');
  }
  return hash.digest('hex');
}

export function readStamp(file) {
  try {
    return readFileSync(file, 'utf8').trim();
  } catch {
    return null;
  }
}

export function writeStamp(file, value) {
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, `${value}\n`);
}

/** True when the stamp is missing or differs from `value`. */
export function isStale(file, value) {
  return readStamp(file) !== value;
}
