#!/usr/bin/env node
// `npm test`: runs every suite in scripts/test-suites.mjs, prints one summary, and exits
// non-zero if any suite failed. The last line has the form "summary: N passed, N failed,
// N skipped" so CI can read it whatever runner each suite uses.
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { suites } from './test-suites.mjs';

const root = resolve(import.meta.dirname, '..');
const reports = join(root, '.test-reports');
rmSync(reports, { recursive: true, force: true });
mkdirSync(reports, { recursive: true });

const only = process.argv.slice(2);
const selected = only.length ? suites.filter((s) => only.includes(s.name)) : suites;
if (only.length && selected.length !== only.length) {
  console.error(`unknown suite in: ${only.join(', ')}; known: ${suites.map((s) => s.name).join(', ')}`);
  process.exit(2);
}

function run(cmd, env) {
  return new Promise((done) => {
    const child = spawn(cmd[0], cmd.slice(1), {
      cwd: root,
      stdio: 'inherit',
      env: { ...process.env, ...env },
    });
    child.on('exit', (code, signal) => done(code ?? (signal ? 1 : 0)));
    child.on('error', (err) => {
      console.error(`cannot run ${cmd[0]}: ${err.message}`);
      done(1);
    });
  });
}

function readCounts(suite, file, code) {
  if (suite.kind === 'check')
    return code === 0 ? { passed: 1, failed: 0, skipped: 0 } : { passed: 0, failed: 1, skipped: 0 };
  if (!existsSync(file)) return { passed: 0, failed: 1, skipped: 0, note: 'no report written' };
  const data = JSON.parse(readFileSync(file, 'utf8'));
  if (suite.kind === 'vitest') {
    return {
      passed: data.numPassedTests ?? 0,
      failed: (data.numFailedTests ?? 0) + (code !== 0 && !data.numFailedTests ? 1 : 0),
      skipped: (data.numPendingTests ?? 0) + (data.numTodoTests ?? 0),
    };
  }
  return { passed: data.passed ?? 0, failed: data.failed ?? 0, skipped: data.skipped ?? 0 };
}

const results = [];
for (const suite of selected) {
  console.log(`\n━━ ${suite.name} ━━`);
  const missing = (suite.requires ?? []).filter((r) => !existsSync(r.path));
  if (missing.length) {
    for (const m of missing) console.error(`✗ ${suite.name} needs ${m.path}: ${m.hint}`);
    results.push({
      name: suite.name,
      code: 1,
      passed: 0,
      failed: 1,
      skipped: 0,
      note: 'missing system dependency',
    });
    continue;
  }
  const file = join(reports, `${suite.name}.json`);
  const cmd =
    suite.kind === 'vitest'
      ? [...suite.cmd, '--reporter=default', '--reporter=json', `--outputFile.json=${file}`]
      : suite.cmd;
  const started = Date.now();
  const code = await run(cmd, { SD_TEST_REPORT: file });
  const counts = readCounts(suite, file, code);
  results.push({ name: suite.name, code, seconds: (Date.now() - started) / 1000, ...counts });
}

console.log('\n━━ summary ━━');
let passed = 0;
let failed = 0;
let skipped = 0;
for (const r of results) {
  passed += r.passed;
  failed += r.failed;
  skipped += r.skipped;
  const mark = r.code === 0 && r.failed === 0 ? '✓' : '✗';
  const time = r.seconds === undefined ? '' : ` (${r.seconds.toFixed(1)} s)`;
  console.log(
    `${mark} ${r.name.padEnd(16)} ${r.passed} passed, ${r.failed} failed, ${r.skipped} skipped${time}${r.note ? ` — ${r.note}` : ''}`,
  );
}
const ok = results.every((r) => r.code === 0 && r.failed === 0);
console.log(`summary: ${passed} passed, ${failed} failed, ${skipped} skipped`);
process.exit(ok ? 0 : 1);
