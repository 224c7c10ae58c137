#!/usr/bin/env node
// Runs a Python test suite of `npm test` in django-host's venv (created/updated first, with the
// test requirements): `node scripts/pytest-suite.mjs <dir> [pytest args]`.
//   django-host    the host's own tests
//   deploy/checks  the static compose/Dockerfile/Caddyfile checks
// The suite's conftest.py writes {passed, failed, skipped} to $SD_TEST_REPORT; pytest's exit 5
// (no test collected) counts as a failure.
import { spawnSync } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { ensurePythonEnv, PythonEnvError } from './python-env.mjs';

const root = resolve(import.meta.dirname, '..');
const [dir, ...pytestArgs] = process.argv.slice(2);

function fail(message) {
  console.error(`✗ ${dir ?? 'pytest-suite'}: ${message}`);
  if (process.env.SD_TEST_REPORT) {
    writeFileSync(process.env.SD_TEST_REPORT, JSON.stringify({ passed: 0, failed: 1, skipped: 0 }));
  }
  process.exit(1);
}

if (!dir || !existsSync(join(root, dir, 'pytest.ini'))) fail('usage: pytest-suite.mjs <dir with pytest.ini>');

let python;
try {
  python = ensurePythonEnv({ dev: true });
} catch (err) {
  fail(err instanceof PythonEnvError ? err.message : String(err));
}

const r = spawnSync(python, ['-m', 'pytest', '-q', ...pytestArgs], {
  cwd: join(root, dir),
  stdio: 'inherit',
});
if (r.status === 5) fail('pytest collected no tests');
process.exit(r.status ?? 1);
