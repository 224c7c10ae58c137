#!/usr/bin/env node
// django-host's Python environment, used by `npm start` and `npm test`: finds Python ≥ 3.11,
// creates django-host/.venv when missing, and pip-installs the pinned requirements only when
// the requirements file changed (a stamp inside the venv holds its hash).
//   node scripts/python-env.mjs [--dev]   prints the venv's python path
import { spawnSync } from 'node:child_process';
import { existsSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
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
  // requirements.txt carries hashes (pip's --require-hashes mode); the test-only set does not,
  // so it is a second install. Each reruns only when its own file changed.
  const sets = ['requirements.txt', ...(dev ? ['requirements-dev.txt'] : [])];
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

if (import.meta.url === `file://${process.argv[1]}`) {
  try {
    console.log(ensurePythonEnv({ dev: process.argv.includes('--dev'), log: (m) => console.error(m) }));
  } catch (err) {
    console.error(err instanceof PythonEnvError ? `✗ ${err.message}` : err);
    process.exit(1);
  }
}
