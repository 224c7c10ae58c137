// Spec drift: src/transport/openapi.d.ts must be exactly what `npm run gen:api -w pwa` makes
// from spec/openapi.yaml today. The same two steps run here — openapi-typescript into a temp
// file, then Biome's formatting as if the output were the committed file — and the result is
// compared with the committed file, so a spec change without regenerated types fails.
// @vitest-environment node
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

const pwaDir = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const bin = (name: string) => resolve(pwaDir, '../node_modules/.bin', name);
const committedPath = 'src/transport/openapi.d.ts';
const tmp = mkdtempSync(join(tmpdir(), 'sd-pwa-openapi-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('generated API types', () => {
  it('match spec/openapi.yaml (run `npm run gen:api -w pwa` after changing the spec)', () => {
    const out = join(tmp, 'openapi.d.ts');
    execFileSync(bin('openapi-typescript'), ['../spec/openapi.yaml', '-o', out], {
      cwd: pwaDir,
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    // Formatted with the repo's Biome config under the committed file's name (stdin in, stdout out).
    const generated = execFileSync(bin('biome'), ['check', '--write', `--stdin-file-path=${committedPath}`], {
      cwd: pwaDir,
      input: readFileSync(out),
      encoding: 'utf8',
      maxBuffer: 16 * 1024 * 1024,
    });
    const committed = readFileSync(resolve(pwaDir, committedPath), 'utf8');
    expect(generated.length).toBeGreaterThan(1000);
    if (generated !== committed) {
      expect.fail(
        `${committedPath} is out of date with spec/openapi.yaml: run \`npm run gen:api -w pwa\` and commit the result`,
      );
    }
  });
});
