// `npm run bench:fanout -w pwa`: the cost of fan-out (spec/protocol.md §16: a message is sealed
// once per recipient device, plus a sync copy per own other device). One sender, one send
// outstanding at a time, against the real relay (e2e/relay.ts: its own embedded PostgreSQL),
// through the app's own send path: SessionManager.sealFanOut over an encrypted IndexedDB store
// (fake-indexeddb in Node; the ratchet states commit with strict durability as in the app), then
// SocketFirst.sendMessage over an authenticated RelaySocket — with a 409 stale_devices answered
// as Outgoing.sendItem does (resealFanOut, the whole set resent). The outbox around it is not
// measured. Configurations: the recipient with 1, 2 and 5 linked devices, and 1 recipient device
// plus 1 own other device of the sender (the sync copy). Devices are linked as the PWA's
// messenger tests do (src/state/messenger.test.ts `linked`): a new login with a recovery code,
// the relay's provisioning approval (§16.8) from device 1, then the account's identity with the
// new device's own prekeys uploaded.
//
// Printed per configuration: the first send (bundle fetch + PQXDH per device, and the 409 that
// teaches the sender its own other devices; one sample per run), then per send over established
// sessions: wall time median and p95, the bench process's CPU per send (the client's share: the
// relay is another process), and the bytes of the `send` frame the client wrote to the socket
// (UTF-8 JSON text: the JSON body POST /send_message would carry, plus `"type"` and `"id"`).
// Ratios are to the 1-device configuration of the same run. Configurations alternate in rounds
// so a change of load on this shared machine falls on all of them. No assertion: numbers.
//
// The measured code is bench/fan-out-sample.ts, bundled with Vite (the app's modules import
// Vite-only specifiers such as `?worker&url`, and crypto-core from its TypeScript source) and
// run in plain Node, as bench/photo-memory.ts does. bench/run.ts runs it with the rest.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'vite';
import { startRelay } from '../e2e/relay.ts';

const here = fileURLToPath(new URL('.', import.meta.url));
const ORIGIN = 'http://127.0.0.1:5173';

/** Runs the fan-out bench against a fresh relay; returns its printed table. */
export async function fanOutBench(): Promise<string> {
  // Inside pwa/ so that the bundle's external packages resolve from node_modules.
  const dir = mkdtempSync(join(here, '.fan-out-'));
  // The send rate limit at its highest: the bench sends faster than a person.
  const relay = await startRelay(ORIGIN, { SEND_RATE_BURST: '10000', SEND_RATE_PER_SECOND: '1000' });
  try {
    await build({
      configFile: false,
      logLevel: 'error',
      resolve: { conditions: ['source', 'module', 'node'] },
      ssr: { noExternal: [/^@secure-drop\//], resolve: { conditions: ['source', 'module', 'node'] } },
      build: {
        ssr: resolve(here, 'fan-out-sample.ts'),
        outDir: dir,
        emptyOutDir: false,
        minify: false,
        rollupOptions: { output: { entryFileNames: 'sample.mjs' } },
      },
    });
    const r = spawnSync(process.execPath, [join(dir, 'sample.mjs')], {
      encoding: 'utf8',
      env: { ...process.env, RELAY_PORT: String(relay.port) },
    });
    if (r.status !== 0) throw new Error(`fan-out bench failed: ${r.stderr}`);
    return r.stdout.trim();
  } finally {
    await relay.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) console.log(await fanOutBench());
