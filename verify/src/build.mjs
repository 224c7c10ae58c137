// @ts-check
// A clean, reproducible build of the PWA from this checkout (verify/README.md "Reproducible
// build"): the tracked and not-ignored files are copied to a fresh directory, node_modules is
// linked in file by file (hard links, so nothing is downloaded and nothing is shared by path),
// and `vite build` runs there with NODE_ENV=production. The same commit must give the same
// bytes wherever this runs; the test builds twice at different absolute paths and compares.
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';

export const repoRoot = resolve(import.meta.dirname, '../..');

/** @param {string} cmd @param {string[]} args @param {import('node:child_process').SpawnSyncOptions} opts */
function run(cmd, args, opts) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024, ...opts });
  if (r.status !== 0) {
    throw new Error(`${cmd} ${args.join(' ')} failed (${r.status}): ${String(r.stderr).slice(-2000)}`);
  }
  return String(r.stdout);
}

/** The commit checked out at `root`, and whether files differ from it. @param {string} root */
export function checkoutState(root = repoRoot) {
  const commit = run('git', ['rev-parse', 'HEAD'], { cwd: root }).trim();
  const dirty = run('git', ['status', '--porcelain'], { cwd: root }).trim() !== '';
  return { commit, dirty };
}

/** Copies node_modules trees with hard links where the platform can (cp -al), else copies. */
function linkTree(/** @type {string} */ from, /** @type {string} */ to) {
  mkdirSync(dirname(to), { recursive: true });
  const r = spawnSync('cp', ['-al', from, to]);
  if (r.status !== 0) cpSync(from, to, { recursive: true, verbatimSymlinks: true });
}

/**
 * Builds the PWA from a clean copy of `root` and returns the dist directory.
 * `prepare(dir)` runs on the copy before the build (a test adds a deployment's release.json).
 * @param {{ root?: string, workDir?: string, prepare?: (dir: string) => void }} [options]
 */
export function reproducibleBuild({ root = repoRoot, workDir, prepare } = {}) {
  const dir = workDir ?? mkdtempSync(join(tmpdir(), 'secure-drop-build-'));
  mkdirSync(dir, { recursive: true });
  const files = run('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], { cwd: root })
    .split('\0')
    .filter((f) => f && existsSync(join(root, f)));
  for (const file of files) {
    mkdirSync(dirname(join(dir, file)), { recursive: true });
    cpSync(join(root, file), join(dir, file), { verbatimSymlinks: true });
  }
  for (const modules of ['node_modules', 'pwa/node_modules', 'crypto-core/node_modules']) {
    if (existsSync(join(root, modules))) linkTree(join(root, modules), join(dir, modules));
  }
  prepare?.(dir);
  run(process.execPath, [join(dir, 'node_modules/vite/bin/vite.js'), 'build', '--logLevel', 'error'], {
    cwd: join(dir, 'pwa'),
    env: { ...process.env, NODE_ENV: 'production' },
  });
  return { dir, dist: join(dir, 'pwa/dist') };
}
