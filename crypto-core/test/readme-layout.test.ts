// The folder layout in README.md matches the files: every source file is named there, as
// itself or as its public subpath (package.json "exports"), and every file it names exists.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { expect, it } from 'vitest';

const root = resolve(import.meta.dirname, '..');
const readme = readFileSync(resolve(root, 'README.md'), 'utf8');
const exported = Object.keys(
  (JSON.parse(readFileSync(resolve(root, 'package.json'), 'utf8')) as { exports: Record<string, unknown> })
    .exports,
);

it('README.md names every source file, and only files that exist', () => {
  const files = readdirSync(resolve(root, 'src')).filter((f) => f.endsWith('.ts'));
  expect(files.length).toBeGreaterThan(30);
  for (const f of files) {
    const subpath = `./${f.replace(/\.ts$/, '')}`;
    const named =
      readme.includes(`\`${f}\``) ||
      (exported.includes(subpath) && readme.includes(`\`${subpath.slice(1)}\``));
    expect(named, f).toBe(true);
  }
  const mentioned = [...readme.matchAll(/`([a-z0-9.-]+\.ts)`/g)].map((m) => m[1] as string);
  expect(mentioned.length).toBeGreaterThan(10);
  for (const f of mentioned)
    expect(
      ['src', 'test', 'scripts', 'bench'].some((dir) => existsSync(resolve(root, dir, f))),
      f,
    ).toBe(true);
});
