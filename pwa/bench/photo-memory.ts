// Peak memory of sealing and opening a 25 MB photo (crypto-core MAX_PHOTO_BYTES), streamed
// through crypto-core's photo codec against crypto-core's one-shot calls, in the same run.
// Sealing: photo/seal.ts (streamed into a Blob) against encryptPhoto, which it used before.
// Opening: photo/seal.ts (one-shot decryptPhoto, since the download holds the whole blob)
// against the streamed opening it would otherwise do (photo-memory-sample.ts openStreamed).
//
// Measured in Node with the same code the browser runs (seal.ts uses no DOM API that Node
// lacks): bench/photo-memory-sample.ts is bundled once with Vite and every sample is a fresh
// plain-Node process whose peak resident set (Linux VmHWM) is read after the work, minus
// the median peak of a process that only loaded the same inputs. A fresh process per sample,
// because a heap that has grown once stays grown. Node keeps Blob bytes in the process, so
// the streamed sealing's Blob counts here in full; Chromium moves large Blobs out of the
// page's process, so a page saves at least as much.
//
// `npx tsx bench/photo-memory.ts` (in pwa/) runs it alone; bench/run.ts runs it with the rest.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'vite';

// crypto-core is imported by the bundled sample only: this file runs under plain tsx, where
// the workspace package would resolve to its (unbuilt) dist.
const MODES = [
  'seal-loaded',
  'seal-one-shot',
  'seal-streamed',
  'seal-streamed-bytes',
  'open-loaded',
  'open-one-shot',
  'open-streamed',
] as const;
type Mode = (typeof MODES)[number];

const SAMPLES = 5;
const here = fileURLToPath(new URL('.', import.meta.url));

interface Sample {
  peakKiB: number;
  ms: number;
}

export interface PhotoMemoryRow {
  measure: string;
  result: string;
  ratio: string;
  notes: string;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;
const mib = (kib: number) => `${(kib / 1024).toFixed(1)} MiB`;

/** Bundles the sample script (crypto-core from its TypeScript source) into `dir`. */
async function bundleSample(dir: string): Promise<string> {
  await build({
    configFile: false,
    logLevel: 'error',
    resolve: { conditions: ['source', 'module', 'node'] },
    ssr: { noExternal: true, resolve: { conditions: ['source', 'module', 'node'] } },
    build: {
      ssr: resolve(here, 'photo-memory-sample.ts'),
      outDir: dir,
      emptyOutDir: false,
      minify: false,
      rollupOptions: { output: { entryFileNames: 'sample.mjs' } },
    },
  });
  return join(dir, 'sample.mjs');
}

/** Runs every mode SAMPLES times in fresh processes and returns the table rows. */
export async function photoMemoryBench(): Promise<PhotoMemoryRow[]> {
  const dir = mkdtempSync(join(tmpdir(), 'sd-photo-memory-'));
  try {
    const script = await bundleSample(dir);
    const run = (args: string[]) => {
      const r = spawnSync(process.execPath, [script, ...args], { encoding: 'utf8' });
      if (r.status !== 0) throw new Error(`photo memory ${args[0]} failed: ${r.stderr}`);
      return r.stdout;
    };
    run(['prepare', dir]);
    const samples = new Map<Mode, Sample[]>(MODES.map((m) => [m, []]));
    // Interleaved, so that a change of machine load falls on every mode alike.
    for (let s = 0; s < SAMPLES; s++)
      for (const mode of MODES) {
        samples.get(mode)?.push(JSON.parse(run([mode, dir])) as Sample);
      }
    const peak = (m: Mode) => median((samples.get(m) ?? []).map((x) => x.peakKiB));
    const ms = (m: Mode) => `${median((samples.get(m) ?? []).map((x) => x.ms)).toFixed(0)} ms`;
    const sealOne = peak('seal-one-shot') - peak('seal-loaded');
    const sealStream = peak('seal-streamed') - peak('seal-loaded');
    const sealBytes = peak('seal-streamed-bytes') - peak('seal-loaded');
    const openOne = peak('open-one-shot') - peak('open-loaded');
    const openStream = peak('open-streamed') - peak('open-loaded');
    const ratio = (a: number, b: number) => `${(a / b).toFixed(2)}× one-shot crypto-core (${mib(b)})`;
    return [
      {
        measure: 'seal a 25 MB photo: peak memory above its input',
        result: mib(sealStream),
        ratio: ratio(sealStream, sealOne),
        notes: `photo/seal.ts, ciphertext into a Blob; ${ms('seal-streamed')} vs ${ms('seal-one-shot')}; Node VmHWM, median of ${SAMPLES}`,
      },
      {
        measure: 'seal, then the Blob read back as bytes',
        result: mib(sealBytes),
        ratio: ratio(sealBytes, sealOne),
        notes: 'what the XMLHttpRequest upload of photo/transfer.ts takes today',
      },
      {
        measure: 'open a 25 MB photo streamed: peak memory above its blob',
        result: mib(openStream),
        ratio: ratio(openStream, openOne),
        notes: `not shipped: ${ms('open-streamed')} vs ${ms('open-one-shot')} for photo/seal.ts one-shot; the download holds the blob`,
      },
    ];
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  for (const r of await photoMemoryBench())
    console.log(`${r.measure}: ${r.result} — ${r.ratio} — ${r.notes}`);
}
