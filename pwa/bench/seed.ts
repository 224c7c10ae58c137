// Bench-only page (built into the bench bundle, never shipped): fills this origin's encrypted
// store the way the app would after a real conversation, and times the photo pipeline, so the
// benchmark can open the PRODUCTION app on the same origin over that data.

import { argon2id as nobleArgon2id } from '@noble/hashes/argon2.js';
import { RECORD as OUT, type StoredMessage } from '../src/outbox/records.ts';
import { preparePhoto } from '../src/photo/prepare.ts';
import { sealPhoto } from '../src/photo/seal.ts';
import { createAccountKeys, newOneTimePreKeys, publishAccountKeys } from '../src/secure/account-keys.ts';
import {
  maintainPrekeys,
  PREKEY_ROTATION_INTERVAL_MS,
  publishPendingOneTime,
} from '../src/secure/prekey-lifecycle.ts';
import { RECORD as SECURE, type StoredPrekeyState } from '../src/secure/records.ts';
import { SessionManager } from '../src/secure/session-manager.ts';
import { openIdbStorage } from '../src/storage/idb-storage.ts';
import { argon2idHere } from '../src/storage/kdf.ts';
import { DEFAULT_KDF, deriveWrappingKey, MIN_KDF, newKdfParams } from '../src/storage/passphrase.ts';

const words = 'lorem ipsum dolor sit amet привет мир 🦊 secure drop message bench'.split(' ');

async function seed(username: string, contacts: Record<string, number>, passphrase?: string): Promise<void> {
  // With a passphrase the store is created under the app lock, as registration does.
  const storage = await openIdbStorage(`secure-drop:${username}`, {
    create: passphrase ? { passphrase, cost: DEFAULT_KDF } : null,
  });
  await createAccountKeys(storage, username);
  // A refresh token the relay will refuse: the app stays signed in offline, as after a restart.
  await storage.put('auth', { username, refreshToken: 'x'.repeat(43) });
  const sm = new SessionManager(storage, {
    bundles: () => Promise.reject(new Error('offline')),
    identity: () => Promise.reject(new Error('offline')),
    uploadKeys: () => Promise.reject(new Error('offline')),
  });
  const start = Date.now() - 1000 * 60 * 60 * 24 * 30;
  for (const [contact, count] of Object.entries(contacts)) {
    const peer = await sm.addPeer(contact);
    const ops = [];
    for (let i = 0; i < count; i++) {
      const at = start + i * 60_000;
      const text = `#${i} ${Array.from({ length: 3 + (i % 17) }, (_, k) => words[(i + k) % words.length]).join(' ')}`;
      const m: StoredMessage = {
        id: `${contact}-${i}`,
        contact,
        direction: i % 2 ? 'out' : 'in',
        at,
        storedAt: at,
        state: i % 2 ? 'delivered' : 'received',
        body: { kind: 'text', text },
      };
      ops.push({ kind: 'putMessage' as const, chat: peer.chatId, id: m.id, value: m });
    }
    for (let i = 0; i < ops.length; i += 200) await storage.write(ops.slice(i, i + 200));
    await storage.put(OUT.chatMeta(peer.chatId), { readUpTo: Date.now() });
  }
  storage.lock();
  localStorage.setItem('sd.account', username);
}

/** A 12-megapixel JPEG with noise (so it compresses like a photo), then the send pipeline. */
async function photoBench(): Promise<{
  decodeMs: number;
  pipelineMs: number;
  inputBytes: number;
  outputBytes: number;
}> {
  const c = new OffscreenCanvas(4000, 3000);
  const g = c.getContext('2d') as OffscreenCanvasRenderingContext2D;
  const img = g.createImageData(4000, 3000);
  let x = 12345;
  for (let i = 0; i < img.data.length; i += 4) {
    x = (x * 1103515245 + 12345) & 0x7fffffff;
    const v = (i / 4) % 4000;
    img.data[i] = (v / 16 + (x & 31)) & 255;
    img.data[i + 1] = ((i / 16000) % 255) + (x & 15);
    img.data[i + 2] = (x >> 8) & 255;
    img.data[i + 3] = 255;
  }
  g.putImageData(img, 0, 0);
  const input = await c.convertToBlob({ type: 'image/jpeg', quality: 0.92 });
  const t0 = performance.now();
  (await createImageBitmap(input)).close();
  const decodeMs = performance.now() - t0;
  const t1 = performance.now();
  const prepared = await preparePhoto(input);
  const sealed = await sealPhoto(crypto.getRandomValues(new Uint8Array(32)), prepared);
  const pipelineMs = performance.now() - t1;
  return { decodeMs, pipelineMs, inputBytes: input.size, outputBytes: sealed.ciphertext.size };
}

/**
 * Prekey rotation on this device (spec/protocol.md §4.7): each maintenance run two days apart
 * generates and signs a new X25519 + ML-KEM-768 pair, stores it with strict durability,
 * "uploads" it (a relay that answers at once) and, from the fifth run on, deletes the pair
 * whose grace period ended. Baseline: the existing top-up of 100 one-time X25519 prekeys
 * (generate, store, upload) in the same store.
 */
async function rotationBench(runs: number): Promise<{ rotationMs: number[]; topUpMs: number[] }> {
  const storage = await openIdbStorage(`bench-rotation-${crypto.randomUUID()}`);
  const relay = { uploadKeys: async () => ({}) };
  await publishAccountKeys(storage, 'bench_rotation', relay);
  let now = Date.now();
  const rotationMs: number[] = [];
  const topUpMs: number[] = [];
  for (let i = 0; i < runs; i++) {
    now += PREKEY_ROTATION_INTERVAL_MS;
    const t0 = performance.now();
    await maintainPrekeys(storage, relay, now);
    rotationMs.push(performance.now() - t0);
    const t1 = performance.now();
    await newOneTimePreKeys(storage, 'x25519');
    await publishPendingOneTime(
      storage,
      relay,
      (await storage.get<StoredPrekeyState>(SECURE.prekeyState)) as StoredPrekeyState,
    );
    topUpMs.push(performance.now() - t1);
  }
  await storage.erase();
  return { rotationMs, topUpMs };
}

/**
 * Runs `work` while an animation-frame loop notes the longest time between two frames: how long
 * the page could not paint or answer input (a spinner stands still for that long).
 */
async function withFrameGap(work: () => Promise<unknown>): Promise<{ ms: number; gap: number }> {
  const frame = () => new Promise<number>((done) => requestAnimationFrame(() => done(performance.now())));
  let running = true;
  let gap = 0;
  let last = await frame();
  const loop = (async () => {
    while (running) {
      const now = await frame();
      gap = Math.max(gap, now - last);
      last = now;
    }
  })();
  const t0 = performance.now();
  await work();
  const ms = performance.now() - t0;
  running = false;
  await loop;
  return { ms, gap };
}

/** What kdfBench measures, in ms per run (bench/run.ts reads it back from the page). */
export interface KdfBenchResult {
  shipped: number[];
  floor: number[];
  noble: number[];
  mainThread: number[];
  gapWorker: number[];
  gapMainThread: number[];
}

/**
 * The app lock's key derivation (storage/passphrase.ts): Argon2id at the shipped parameters
 * (64 MiB, t=2, p=1) with hash-wasm in its Web Worker (storage/kdf.ts), against the same
 * library at OWASP's floor (19 MiB, t=2), against the same derivation on the page's own thread
 * (how it ran before the worker: time, and the longest gap between frames meanwhile), and
 * against @noble/hashes' pure-JS Argon2id at the shipped parameters (the library choice).
 */
async function kdfBench(runs: number): Promise<KdfBenchResult> {
  const shipped: number[] = [];
  const floor: number[] = [];
  const noble: number[] = [];
  const mainThread: number[] = [];
  const gapWorker: number[] = [];
  const gapMainThread: number[] = [];
  const pass = 'correct horse battery staple';
  for (let i = 0; i < runs; i++) {
    const inWorker = await withFrameGap(() => deriveWrappingKey(pass, newKdfParams(DEFAULT_KDF)));
    shipped.push(inWorker.ms);
    gapWorker.push(inWorker.gap);
    const here = await withFrameGap(() =>
      argon2idHere(new TextEncoder().encode(pass), newKdfParams(DEFAULT_KDF)),
    );
    mainThread.push(here.ms);
    gapMainThread.push(here.gap);
    const t0 = performance.now();
    await deriveWrappingKey(pass, newKdfParams(MIN_KDF));
    floor.push(performance.now() - t0);
  }
  // Slow (seconds each): three runs are enough to place it.
  for (let i = 0; i < 3; i++) {
    const t0 = performance.now();
    nobleArgon2id(new TextEncoder().encode(pass), crypto.getRandomValues(new Uint8Array(16)), {
      m: DEFAULT_KDF.m,
      t: DEFAULT_KDF.t,
      p: DEFAULT_KDF.p,
      dkLen: 32,
    });
    noble.push(performance.now() - t0);
  }
  return { shipped, floor, noble, mainThread, gapWorker, gapMainThread };
}

Object.assign(globalThis, {
  benchSeed: seed,
  benchPhoto: photoBench,
  benchRotation: rotationBench,
  benchKdf: kdfBench,
});
document.title = 'seed ready';
