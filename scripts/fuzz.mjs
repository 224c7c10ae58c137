#!/usr/bin/env node
// The long form of the schema-fuzzing suite (harness/fuzz, RELIABILITY.md):
//   npm run fuzz [-- <examples per operation and mode, default 200>]
// Prints the figures (operations × examples, answers by class, violations) as JSON at the end.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const root = resolve(import.meta.dirname, '..');
const examples = Number(process.argv[2] ?? 200);
if (!Number.isInteger(examples) || examples < 1 || examples > 100_000) {
  console.error('usage: npm run fuzz -- [examples per operation and mode, 1..100000]');
  process.exit(2);
}
const dir = mkdtempSync(join(tmpdir(), 'sd-fuzz-'));
const report = join(dir, 'report.json');
const r = spawnSync(process.execPath, [join(root, 'scripts', 'pytest-suite.mjs'), 'harness/fuzz'], {
  stdio: 'inherit',
  env: { ...process.env, FUZZ_EXAMPLES: String(examples), FUZZ_REPORT: report, SD_TEST_REPORT: '' },
});
try {
  console.log(readFileSync(report, 'utf8'));
} catch {
  console.error('no fuzzing report was written');
}
rmSync(dir, { recursive: true, force: true });
process.exit(r.status ?? 1);
