import { mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { hashInputs, isStale, listFiles, writeStamp } from '../lib/stamp.mjs';
import { needsNpmCi } from '../lib/workspace.mjs';

let dir;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'sd-stamp-'));
  mkdirSync(join(dir, 'src/nested'), { recursive: true });
  mkdirSync(join(dir, 'src/node_modules'), { recursive: true });
  writeFileSync(join(dir, 'src/a.ts'), 'a');
  writeFileSync(join(dir, 'src/nested/b.ts'), 'b');
  writeFileSync(join(dir, 'src/node_modules/ignored.js'), 'x');
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe('content stamps', () => {
  it('lists source files, not dependencies or build output', () => {
    expect(listFiles(dir, ['src']).map((f) => f.slice(dir.length + 1))).toEqual([
      'src/a.ts',
      'src/nested/b.ts',
    ]);
  });

  it('changes when a file changes, is added or renamed; not when ignored files change', () => {
    const first = hashInputs(dir, ['src']);
    writeFileSync(join(dir, 'src/node_modules/ignored.js'), 'y');
    expect(hashInputs(dir, ['src'])).toBe(first);
    writeFileSync(join(dir, 'src/a.ts'), 'a2');
    const second = hashInputs(dir, ['src']);
    expect(second).not.toBe(first);
    writeFileSync(join(dir, 'src/c.ts'), '');
    expect(hashInputs(dir, ['src'])).not.toBe(second);
  });

  it('tolerates inputs that do not exist', () => {
    expect(hashInputs(dir, ['nope'])).toBe(hashInputs(dir, []));
  });

  it('a stamp is stale until written with the same value', () => {
    const stamp = join(dir, 'stamps/x.sha256');
    expect(isStale(stamp, 'abc')).toBe(true);
    writeStamp(stamp, 'abc');
    expect(isStale(stamp, 'abc')).toBe(false);
    expect(isStale(stamp, 'abd')).toBe(true);
  });
});

describe('needsNpmCi', () => {
  it('is true without node_modules, or when the lockfile is newer than the installed tree', () => {
    writeFileSync(join(dir, 'package-lock.json'), '{}');
    expect(needsNpmCi(dir)).toBe(true);
    mkdirSync(join(dir, 'node_modules'));
    writeFileSync(join(dir, 'node_modules/.package-lock.json'), '{}');
    utimesSync(join(dir, 'package-lock.json'), new Date(1000), new Date(1000));
    expect(needsNpmCi(dir)).toBe(false);
    utimesSync(join(dir, 'package-lock.json'), new Date(), new Date(Date.now() + 60_000));
    expect(needsNpmCi(dir)).toBe(true);
  });
});
