// Every dynamic import of the app goes through checkedImport (checked-import.ts): one that did
// not would fetch its chunk again, unchecked, after a failed preload (module-check.ts).
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';

const SRC = join(import.meta.dirname, '..');

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return entry.name === 'test' ? [] : sources(path);
    return /\.tsx?$/.test(entry.name) && !/\.test\.tsx?$/.test(entry.name) ? [path] : [];
  });
}

describe('dynamic imports', () => {
  it('each goes through checkedImport (routes.tsx view() hands its loader to it)', () => {
    const unchecked: string[] = [];
    let seen = 0;
    for (const file of sources(SRC)) {
      const name = relative(SRC, file);
      // The page's entry imports the app by URL once its chunks are checked; the service
      // worker is a build of its own.
      if (name === 'boot.ts' || name === 'sw.ts') continue;
      for (const line of readFileSync(file, 'utf8').split('\n')) {
        if (/^\s*(\/\/|\/\*|\*)/.test(line)) continue; // comments
        for (const m of line.matchAll(/(.{0,40})\bimport\(/g)) {
          const before = m[1] ?? '';
          if (/typeof\s*$/.test(before)) continue; // a type, not an import
          seen++;
          if (!/(checkedImport|view)\(\(\) => $/.test(before)) unchecked.push(`${name}: …${before}import(`);
        }
      }
    }
    expect(seen).toBeGreaterThanOrEqual(8);
    expect(unchecked).toEqual([]);
  });

  it('the key the app reads the check from is the one the entry installs it under', async () => {
    const { INSTALLED } = await import('./module-check.ts');
    expect(INSTALLED).toBe(Symbol.for('secure-drop.checkedImport'));
    expect(readFileSync(join(SRC, 'integrity/checked-import.ts'), 'utf8')).toContain(
      "Symbol.for('secure-drop.checkedImport')",
    );
  });
});
