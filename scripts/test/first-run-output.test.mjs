// What a first `npm start` prints: progress lines, not warnings a person cannot act on.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { formatDuration, runCaptured } from '../lib/progress.mjs';
import { NOISE } from './noise.mjs';

const root = resolve(import.meta.dirname, '../..');
const readJson = (file) => JSON.parse(readFileSync(join(root, file), 'utf8'));

describe('npm install scripts', () => {
  it('allowScripts decides every package in the lockfile that has one (npm warns about the rest)', () => {
    const { allowScripts } = readJson('package.json');
    const withScripts = Object.entries(readJson('package-lock.json').packages)
      .filter(([, meta]) => meta.hasInstallScript)
      .map(([path]) => path.replace(/^.*node_modules\//, ''));
    expect(withScripts).toContain('@signalapp/libsignal-client');
    expect(withScripts.filter((name) => !(name in allowScripts))).toEqual([]);
    // Bench-only, and its install script only prints a build hint: never run it.
    expect(allowScripts['@signalapp/libsignal-client']).toBe(false);
  });
});

describe('the PWA build', () => {
  it('prints no deprecation, timing report or colour codes', { timeout: 240_000 }, async () => {
    const outDir = mkdtempSync(join(tmpdir(), 'sd-pwa-build-'));
    try {
      // As start.mjs runs a build step (scripts/lib/progress.mjs), under vitest's FORCE_COLOR.
      const { code, output } = await runCaptured(
        'npx',
        ['vite', 'build', '--outDir', outDir, '--emptyOutDir'],
        {
          cwd: join(root, 'pwa'),
          env: { ...process.env, NODE_ENV: 'production', FORCE_COLOR: '1' },
        },
      );
      expect(code, output).toBe(0);
      expect(output).toContain('sw.js');
      for (const noise of NOISE) expect(output).not.toMatch(noise);
    } finally {
      rmSync(outDir, { recursive: true, force: true });
    }
  });

  it('turns Rolldown’s plugin-timing report off for the app and the service worker', async () => {
    const { default: config, swBuildOptions } = await import('../../pwa/vite.config.ts');
    expect(config.build.rolldownOptions.checks.bundlerTimings).toBe(false);
    expect(swBuildOptions.options({ input: 'x' }).checks.bundlerTimings).toBe(false);
    expect(swBuildOptions.outputOptions({ inlineDynamicImports: true, format: 'es' })).toEqual({
      format: 'es',
      codeSplitting: false,
    });
  });
});

describe('progress durations', () => {
  it('reads as a person would say it', () => {
    expect(formatDuration(420)).toBe('0.4 s');
    expect(formatDuration(12_300)).toBe('12 s');
    expect(formatDuration(65_000)).toBe('1 min 05 s');
  });
});
