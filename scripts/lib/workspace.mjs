// The build steps `npm start` runs when their inputs changed, and how it runs the relay.
// The stamps live in node_modules/.cache/secure-drop/ (wiped by a fresh npm ci, which also
// forces a rebuild).
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';

function readPackage(root, dir) {
  const file = join(root, dir, 'package.json');
  if (!existsSync(file)) return null;
  return JSON.parse(readFileSync(file, 'utf8'));
}

/**
 * The build steps in order. `inputs` are hashed into the stamp; `output` must exist after the
 * build (a step whose output vanished reruns even when its stamp matches).
 */
export function buildSteps(root) {
  const steps = [];
  const shared = ['tsconfig.json', 'package-lock.json'];
  const core = readPackage(root, 'crypto-core');
  const coreInputs = [
    'crypto-core/src',
    'crypto-core/package.json',
    'crypto-core/tsconfig.json',
    'crypto-core/tsconfig.build.json',
  ];
  if (core?.scripts?.build) {
    steps.push({
      name: 'crypto-core',
      workspace: 'crypto-core',
      inputs: [...shared, ...coreInputs],
      output: 'crypto-core/dist',
    });
  }
  steps.push({
    name: 'relay',
    workspace: 'relay',
    // The relay compiles against crypto-core's built declarations and loads its dist at run
    // time (identity proofs, spec/protocol.md §4.6): crypto-core is built first, above.
    inputs: [...shared, ...coreInputs, 'relay/src', 'relay/package.json', 'relay/tsconfig.json'],
    output: 'relay/dist/server.js',
  });
  steps.push({
    name: 'pwa',
    workspace: 'pwa',
    // The PWA bundles crypto-core and its API types come from the spec.
    inputs: [
      ...shared,
      ...coreInputs,
      'pwa/src',
      'pwa/public',
      'pwa/index.html',
      'pwa/package.json',
      'pwa/vite.config.ts',
      'pwa/tsconfig.json',
      'pwa/tsconfig.sw.json',
      'spec/openapi.yaml',
    ],
    output: 'pwa/dist/index.html',
  });
  return steps;
}

/** The relay's start command: `node <file>` run directly (so signals reach it), else npm. */
export function relayCommand(root, nodePath = process.execPath) {
  const start = readPackage(root, 'relay')?.scripts?.start ?? '';
  const direct = /^node\s+(\S+)$/.exec(start.trim());
  if (direct) return { cmd: nodePath, args: [direct[1]], cwd: join(root, 'relay') };
  return { cmd: 'npm', args: ['run', '--silent', 'start'], cwd: join(root, 'relay') };
}

/**
 * npm ci is needed when node_modules is absent or package-lock.json is newer than the tree npm
 * last installed (npm records that tree in node_modules/.package-lock.json on every install).
 */
export function needsNpmCi(root) {
  const installed = join(root, 'node_modules/.package-lock.json');
  if (!existsSync(installed)) return true;
  return statSync(join(root, 'package-lock.json')).mtimeMs > statSync(installed).mtimeMs;
}

/** The relay's DATA_DIR as `npm start` gives it: a relative DATA_DIR is resolved from relay/
 * (the relay's cwd, as the relay resolves it); unset, `<repo>/.data`. */
export function dataDirOf(root, env = process.env) {
  return env.DATA_DIR ? resolve(root, 'relay', env.DATA_DIR) : join(root, '.data');
}
