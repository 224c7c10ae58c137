// Spec drift: src/transport/openapi.d.ts must be exactly what `npm run gen:api -w pwa` makes
// from spec/openapi.yaml today. The same two steps run here — openapi-typescript into a temp
// file, then Biome's formatting as if the output were the committed file — and the result is
// compared with the committed file, so a spec change without regenerated types fails.
// The WebSocket frames are part of it: spec/openapi.yaml references spec/ws-frames.schema.json
// (components WsClientFrame, WsServerFrame, WsCloseCode) and openapi-typescript follows those
// references, so a change to the frame schema alone is caught here too; the second test checks
// that every definition of that schema is in the generated types (a dropped reference would
// otherwise just drop them).
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
  it('match spec/openapi.yaml and spec/ws-frames.schema.json (run `npm run gen:api -w pwa` after changing either)', () => {
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

  it('hold every WebSocket frame schema of spec/ws-frames.schema.json', () => {
    const schema = JSON.parse(readFileSync(resolve(pwaDir, '../spec/ws-frames.schema.json'), 'utf8')) as {
      $defs: Record<string, unknown>;
    };
    const names = Object.keys(schema.$defs);
    expect(names).toEqual(
      expect.arrayContaining(['ClientFrame', 'ServerFrame', 'SendFrame', 'ResponseFrame']),
    );
    const committed = readFileSync(resolve(pwaDir, committedPath), 'utf8');
    const missing = names.filter((name) => !new RegExp(`^    ${name}:`, 'm').test(committed));
    expect(missing).toEqual([]);
  });
});
