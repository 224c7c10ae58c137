#!/usr/bin/env node
// The 'django-host' suite of `npm test`: prepares django-host/.venv (with the test
// requirements), then runs pytest there. tests/conftest.py writes {passed, failed, skipped}
// to $SD_TEST_REPORT; pytest's exit 5 (no test collected) counts as a failure.
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { ensurePythonEnv, hostDir, PythonEnvError } from './python-env.mjs';

function fail(message) {
  console.error(`✗ django-host: ${message}`);
  if (process.env.SD_TEST_REPORT) {
    writeFileSync(process.env.SD_TEST_REPORT, JSON.stringify({ passed: 0, failed: 1, skipped: 0 }));
  }
  process.exit(1);
}

let python;
try {
  python = ensurePythonEnv({ dev: true });
} catch (err) {
  fail(err instanceof PythonEnvError ? err.message : String(err));
}

const r = spawnSync(python, ['-m', 'pytest', '-q', ...process.argv.slice(2)], {
  cwd: hostDir,
  stdio: 'inherit',
});
if (r.status === 5) fail('pytest collected no tests');
process.exit(r.status ?? 1);
