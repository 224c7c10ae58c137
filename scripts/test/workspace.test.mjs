import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { buildSteps, relayCommand } from '../lib/workspace.mjs';

let dir;
const put = (file, text) => {
  mkdirSync(join(dir, file, '..'), { recursive: true });
  writeFileSync(join(dir, file), text);
};
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'sd-ws-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe('build steps', () => {
  it('builds crypto-core only when it has a build script, before the relay and PWA that use it', () => {
    put('crypto-core/package.json', JSON.stringify({ scripts: {} }));
    expect(buildSteps(dir).map((s) => s.name)).toEqual(['relay', 'pwa']);
    put('crypto-core/package.json', JSON.stringify({ scripts: { build: 'tsc' } }));
    const steps = buildSteps(dir);
    expect(steps.map((s) => s.name)).toEqual(['crypto-core', 'relay', 'pwa']);
    expect(steps[1].inputs).toContain('crypto-core/src');
    expect(steps[2].inputs).toContain('crypto-core/src');
    expect(steps[2].output).toBe('pwa/dist/index.html');
  });

  it('runs a `node <file>` start script directly so signals reach the relay', () => {
    put('relay/package.json', JSON.stringify({ scripts: { start: 'node dist/server.js' } }));
    expect(relayCommand(dir, '/usr/bin/node')).toEqual({
      cmd: '/usr/bin/node',
      args: ['dist/server.js'],
      cwd: join(dir, 'relay'),
    });
    put('relay/package.json', JSON.stringify({ scripts: { start: 'tsx src/server.ts' } }));
    expect(relayCommand(dir).cmd).toBe('npm');
  });
});
