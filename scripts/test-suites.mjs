// The suites `npm test` runs, in order. One place to add a suite.
// kind 'vitest': the command gets a JSON reporter and its counts are read from it;
// kind 'counts': the command writes {passed, failed, skipped} to $SD_TEST_REPORT itself;
// kind 'check': pass/fail only (type-check, lint, static checks), counted as one test.
// requires: system tools that must exist; a missing one fails the run with the install hint.

/** @typedef {{ name: string, kind: 'vitest' | 'counts' | 'check', cmd: string[], requires?: { path: string, hint: string }[] }} Suite */

/** @type {Suite[]} */
export const suites = [
  { name: 'typecheck', kind: 'check', cmd: ['npm', 'run', '--silent', 'typecheck'] },
  { name: 'lint', kind: 'check', cmd: ['npx', 'biome', 'ci', '.'] },
  // Python: ruff (lint + format), mypy, and the hashed requirements files agree with their .in
  // files (scripts/python-checks.mjs; settings in pyproject.toml).
  { name: 'python-lint', kind: 'check', cmd: ['node', 'scripts/python-checks.mjs', 'lint'] },
  { name: 'python-types', kind: 'check', cmd: ['node', 'scripts/python-checks.mjs', 'types'] },
  { name: 'python-lock', kind: 'check', cmd: ['node', 'scripts/python-checks.mjs', 'lock'] },
  { name: 'crypto-core', kind: 'vitest', cmd: ['npm', 'test', '-w', 'crypto-core', '--'] },
  { name: 'django-host', kind: 'counts', cmd: ['node', 'scripts/pytest-suite.mjs', 'django-host'] },
  // Static checks of compose.yml, the Dockerfiles, Caddyfile and .env.example (no Docker here).
  { name: 'compose', kind: 'counts', cmd: ['node', 'scripts/pytest-suite.mjs', 'deploy/checks'] },
  // npm start's logic (bind/TLS rule, stamps, preflight) and a real start-to-Ctrl-C smoke run.
  {
    name: 'start',
    kind: 'vitest',
    cmd: ['npx', 'vitest', 'run', '--root', 'scripts'],
    requires: [
      { path: '/usr/bin/chromium', hint: 'apt-get install chromium (Debian; never a downloaded browser)' },
    ],
  },
  // Schema fuzzing from spec/openapi.yaml against a real relay, directly and through the host
  // (harness/fuzz, RELIABILITY.md); bounded here, `npm run fuzz` for the long form.
  { name: 'fuzz', kind: 'counts', cmd: ['node', 'scripts/pytest-suite.mjs', 'harness/fuzz'] },
  // Fault-injected soak (scripts/soak.mjs, RELIABILITY.md): the short form, under 60 s.
  { name: 'soak', kind: 'counts', cmd: ['node', 'scripts/soak.mjs', '--seconds', '25', '--drain', '15'] },
  { name: 'relay', kind: 'vitest', cmd: ['npm', 'test', '-w', 'relay', '--'] },
  { name: 'pwa', kind: 'vitest', cmd: ['npm', 'test', '-w', 'pwa', '--'] },
  // Served-code integrity: two clean PWA builds at different paths are byte-identical, the
  // signed release manifest, and the verifier CLI against real django-host servers.
  { name: 'verify', kind: 'vitest', cmd: ['npm', 'test', '-w', 'verify', '--'] },
  {
    name: 'pwa-e2e',
    kind: 'vitest',
    cmd: ['npm', 'run', 'test:e2e', '-w', 'pwa', '--'],
    requires: [{ path: '/usr/bin/chromium', hint: 'apt-get install chromium' }],
  },
];
