#!/usr/bin/env node
// django-host's benchmark: the /api forward against the upstream directly, as ratios measured in
// one run (django-host/bench/forward.py; results recorded in django-host/BENCHMARKS.md).
import { spawnSync } from 'node:child_process';
import { ensurePythonEnv, hostDir, PythonEnvError } from './python-env.mjs';

let python;
try {
  python = ensurePythonEnv({ dev: true });
} catch (err) {
  console.error(err instanceof PythonEnvError ? `✗ ${err.message}` : err);
  process.exit(1);
}
const r = spawnSync(python, ['-m', 'bench.forward'], { cwd: hostDir, stdio: 'inherit' });
process.exit(r.status ?? 1);
