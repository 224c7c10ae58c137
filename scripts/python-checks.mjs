#!/usr/bin/env node
// The Python checks of `npm test` (check suites in scripts/test-suites.mjs), run with the tools
// pinned in django-host's dev venv and configured once in the root pyproject.toml:
//   node scripts/python-checks.mjs lint    ruff check + ruff format --check (django-host/, deploy/, harness/)
//   node scripts/python-checks.mjs types   mypy over each Python root
//   node scripts/python-checks.mjs lock    requirements*.txt are what their .in files resolve to
import { spawnSync } from 'node:child_process';
import { dirname, join, resolve } from 'node:path';
import { ensurePythonEnv, hostDir, LOCK_COMMAND, lockDrift, PythonEnvError } from './python-env.mjs';

const root = resolve(import.meta.dirname, '..');
const config = join(root, 'pyproject.toml');
// Each root is checked on its own: deploy/checks and django-host both hold a `tests` package.
// Django's settings module (for django-stubs) is importable from all of them.
const MYPY_ROOTS = ['django-host', 'deploy/checks', 'harness'];

function tool(python, name, args, cwd = root) {
  const r = spawnSync(join(dirname(python), name), args, {
    cwd,
    stdio: 'inherit',
    env: { ...process.env, PYTHONPATH: hostDir, MYPYPATH: hostDir },
  });
  return r.status === 0;
}

const checks = {
  lint: (py) => [
    tool(py, 'ruff', ['check', '--config', config]),
    tool(py, 'ruff', ['format', '--check', '--config', config]),
  ],
  types: (py) =>
    MYPY_ROOTS.map((dir) =>
      tool(
        py,
        'mypy',
        ['--config-file', config, '--explicit-package-bases', '--no-incremental', '.'],
        join(root, dir),
      ),
    ),
  lock: (py) => {
    const drift = lockDrift(py);
    if (drift.length)
      console.error(`✗ ${drift.join(', ')} differ from their .in files: run \`${LOCK_COMMAND}\``);
    return [drift.length === 0];
  },
};

const which = process.argv[2];
if (!(which in checks)) {
  console.error(`usage: python-checks.mjs ${Object.keys(checks).join('|')}`);
  process.exit(2);
}
try {
  const python = ensurePythonEnv({ dev: true, log: (m) => console.error(m) });
  process.exit(checks[which](python).every(Boolean) ? 0 : 1);
} catch (err) {
  console.error(err instanceof PythonEnvError ? `✗ ${err.message}` : err);
  process.exit(1);
}
