#!/usr/bin/env node
// django-host's Python environment, used by `npm start` and `npm test`: finds Python ≥ 3.11,
// creates django-host/.venv when missing, and pip-installs the pinned requirements only when
// the requirements file changed (a stamp inside the venv holds its hash).
//   node scripts/python-env.mjs [--dev]     prints the venv's python path
//   node scripts/python-env.mjs --lock      regenerates requirements*.txt from requirements*.in
//                                           (add --upgrade to move every pin to the newest)
//   node scripts/python-env.mjs --check-lock  fails when a requirements*.txt is not what --lock
//                                           would write from its .in (a check suite of npm test)
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { hashInputs, isStale, writeStamp } from './lib/stamp.mjs';

const root = resolve(import.meta.dirname, '..');
export const hostDir = join(root, 'django-host');
export const venvDir = join(hostDir, '.venv');
export const MIN_PYTHON = [3, 11];
export const INSTALL_HINT =
  'install Python ≥ 3.11 with venv support, e.g. `apt-get install python3 python3-venv` (Debian/Ubuntu), then run again';

export class PythonEnvError extends Error {}

const venvPython = () => join(venvDir, process.platform === 'win32' ? 'Scripts/python.exe' : 'bin/python');

/** [major, minor] of an interpreter, or null when it can't be run. */
export function pythonVersion(cmd) {
  const r = spawnSync(cmd, ['-c', 'import sys; print(sys.version_info[0], sys.version_info[1])'], {
    encoding: 'utf8',
  });
  if (r.status !== 0 || !r.stdout) return null;
  const [major, minor] = r.stdout.trim().split(' ').map(Number);
  return [major, minor];
}

export function versionOk(version, min = MIN_PYTHON) {
  return version !== null && (version[0] > min[0] || (version[0] === min[0] && version[1] >= min[1]));
}

/** The first Python ≥ 3.11 that can create a venv with pip ($SECURE_DROP_PYTHON first). */
export function findPython(env = process.env) {
  const candidates = [env.SECURE_DROP_PYTHON, 'python3', 'python3.13', 'python3.12', 'python3.11', 'python'];
  const seen = [];
  for (const cmd of candidates.filter(Boolean)) {
    const version = pythonVersion(cmd);
    if (!version) continue;
    seen.push(`${cmd} ${version.join('.')}`);
    if (!versionOk(version)) continue;
    // Debian splits venv/ensurepip into python3-venv; without it `-m venv` cannot add pip.
    const probe = spawnSync(cmd, ['-c', 'import venv, ensurepip'], { encoding: 'utf8' });
    if (probe.status !== 0) {
      seen.push(`${cmd}: no venv/ensurepip module`);
      continue;
    }
    return cmd;
  }
  const found = seen.length ? ` (found: ${seen.join('; ')})` : ' (none found on PATH)';
  throw new PythonEnvError(`django-host needs Python ≥ 3.11${found}: ${INSTALL_HINT}`);
}

/** `quiet`: the tool's output is kept and shown only in the error when it fails. */
function run(cmd, args, what, quiet = false) {
  const r = spawnSync(cmd, args, { stdio: quiet ? 'pipe' : 'inherit', cwd: hostDir, encoding: 'utf8' });
  if (r.status !== 0) {
    const output = quiet ? `\n${`${r.stdout ?? ''}${r.stderr ?? ''}`.slice(-4000)}` : '';
    throw new PythonEnvError(`${what} failed (exit ${r.status ?? r.signal})${output}`);
  }
}

/** Creates/updates the venv; returns its python. `dev` adds the test requirements; `quiet`
 * keeps venv's and pip's output unless they fail (`npm start` shows progress lines only). */
export function ensurePythonEnv({ dev = false, log = console.log, quiet = false } = {}) {
  let py = venvPython();
  if (existsSync(py) && !versionOk(pythonVersion(py))) {
    log('django-host/.venv is broken or too old; recreating it');
    rmSync(venvDir, { recursive: true, force: true });
  }
  if (!existsSync(py)) {
    const base = findPython();
    log(`creating django-host/.venv with ${base}`);
    run(base, ['-m', 'venv', venvDir], 'creating the virtual environment', quiet);
    py = venvPython();
  }
  // Both files carry hashes (pip's --require-hashes mode); the test-only set is a second install
  // so that the runtime set stays exactly what the image installs. Each reruns only when its
  // own file changed.
  const sets = [RUNTIME.txt, ...(dev ? [DEV.txt] : [])];
  for (const reqFile of sets) {
    const stamp = join(venvDir, `.sd-${reqFile.replace('.txt', '')}.sha256`);
    const hash = hashInputs(hostDir, [reqFile]);
    if (!isStale(stamp, hash)) continue;
    log(`installing django-host/${reqFile} into the venv`);
    run(
      py,
      ['-m', 'pip', 'install', '--disable-pip-version-check', '-q', '-r', reqFile],
      `pip install -r ${reqFile}`,
      quiet,
    );
    writeStamp(stamp, hash);
  }
  return py;
}

// ---- The hashed requirements files ------------------------------------------------------------
// uv's resolver (`uv pip compile`) writes them from the .in files rather than pip-tools'
// pip-compile: with --universal one file holds every Python ≥ 3.11 and every platform (markers
// instead of the resolving interpreter's view), so the same command gives the same file on any
// developer's machine and in the check below; it reads no pip configuration (no local wheel
// directories or mirrors can leak into the hashes); and it ships as one binary wheel. Existing
// pins are kept unless --upgrade is given, so the check reproduces the committed files.

const RUNTIME = { in: 'requirements.in', txt: 'requirements.txt' };
// requirements-dev.in constrains itself to requirements.txt (`-c`), so it is compiled second.
const DEV = { in: 'requirements-dev.in', txt: 'requirements-dev.txt' };
export const LOCK_COMMAND = 'node scripts/python-env.mjs --lock';

function uvEnv() {
  const env = { ...process.env };
  // Only the public index, whatever the shell says.
  for (const name of Object.keys(env)) if (name.startsWith('UV_')) delete env[name];
  return env;
}

/** Each set compiled in a scratch directory: the .in files, and the committed pins (without
 * their hashes, which uv would otherwise carry over unchecked) as the versions to keep. Every
 * hash is taken from the index afresh. Returns the directory holding the new .txt files. */
function compileFresh(python, upgrade = false) {
  const uv = join(dirname(python), 'uv');
  if (!existsSync(uv)) throw new PythonEnvError(`${uv} missing: node scripts/python-env.mjs --dev`);
  const dir = mkdtempSync(join(tmpdir(), 'sd-lock-'));
  for (const set of [RUNTIME, DEV]) {
    copyFileSync(join(hostDir, set.in), join(dir, set.in));
    const committed = join(hostDir, set.txt);
    const pins = existsSync(committed)
      ? readFileSync(committed, 'utf8')
          .split('\n')
          .filter((line) => /^[A-Za-z0-9]/.test(line))
          .map((line) => line.replace(/\s*\\$/, ''))
      : [];
    writeFileSync(join(dir, set.txt), `${pins.join('\n')}\n`);
  }
  for (const set of [RUNTIME, DEV]) {
    const args = ['pip', 'compile', set.in, '--output-file', set.txt, '--no-config', '--quiet'];
    args.push('--universal', '--python-version', `${MIN_PYTHON[0]}.${MIN_PYTHON[1]}`, '--generate-hashes');
    args.push('--custom-compile-command', LOCK_COMMAND, ...(upgrade ? ['--upgrade'] : []));
    const r = spawnSync(uv, args, { cwd: dir, env: uvEnv(), encoding: 'utf8' });
    if (r.status !== 0) {
      rmSync(dir, { recursive: true, force: true });
      throw new PythonEnvError(`uv pip compile ${set.in} failed:\n${r.stderr.slice(-4000)}`);
    }
  }
  return dir;
}

const devPython = () => ensurePythonEnv({ dev: true, log: (m) => console.error(m) });

/** Rewrites django-host/requirements*.txt from their .in files. */
export function lockRequirements({ upgrade = false } = {}) {
  const dir = compileFresh(devPython(), upgrade);
  try {
    for (const set of [RUNTIME, DEV]) copyFileSync(join(dir, set.txt), join(hostDir, set.txt));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The requirements files that differ from what --lock writes (empty: in sync). */
export function lockDrift(python = devPython()) {
  const dir = compileFresh(python);
  try {
    return [RUNTIME, DEV]
      .filter(
        (set) => readFileSync(join(dir, set.txt), 'utf8') !== readFileSync(join(hostDir, set.txt), 'utf8'),
      )
      .map((set) => `django-host/${set.txt}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  try {
    if (process.argv.includes('--lock')) {
      lockRequirements({ upgrade: process.argv.includes('--upgrade') });
      process.exit(0);
    }
    if (process.argv.includes('--check-lock')) {
      const drift = lockDrift();
      if (drift.length) {
        console.error(
          `✗ ${drift.join(', ')} differ from their .in files: run \`${LOCK_COMMAND}\` and commit`,
        );
        process.exit(1);
      }
      console.error('✓ django-host/requirements*.txt are what their .in files resolve to');
      process.exit(0);
    }
    console.log(ensurePythonEnv({ dev: process.argv.includes('--dev'), log: (m) => console.error(m) }));
  } catch (err) {
    console.error(err instanceof PythonEnvError ? `✗ ${err.message}` : err);
    process.exit(1);
  }
}
