// `npm run bench -w pwa`: the app's benchmark (pwa/BENCHMARKS.md), in headless Chromium on this machine.
//  1. initial JavaScript of the shipped build, gzip (target ≤ 170 KB);
//  2. time to open a chat holding 1,000 cached messages (target ≤ 100 ms), ratio to opening a
//     10-message chat measured the same way in the same run;
//  3. offline cold start to readable history (target ≤ 1 s), ratio to the offline cold start
//     to the first painted app shell in the same run;
//  4. photo pipeline for a 12-megapixel JPEG (decode, strip, downscale, encrypt), ratio to
//     decoding it alone;
//  5. signed prekey rotation on the device (spec/protocol.md §4.7), ratio to a top-up of 100
//     one-time X25519 prekeys;
//  6. the app lock: Argon2id key derivation at the shipped parameters (target 0.5–1 s), ratio to
//     OWASP's floor and to @noble/hashes' pure-JS Argon2id; offline cold start to readable
//     history through the unlock screen, ratio to the cold start without a lock;
//  7. peak memory of sealing and opening a 25 MB photo, streamed against one-shot crypto-core
//     (bench/photo-memory.ts: fresh Node processes running the same code, not Chromium);
//  8. the cost of fan-out to linked devices (spec/protocol.md §16): send time, client CPU and
//     bytes for 1, 2 and 5 recipient devices and for a sync copy, ratio to 1 device
//     (bench/fan-out.ts: the app's send path in Node against the real relay).
// Results are printed and written to BENCHMARKS.md. No assertion: numbers, not pass/fail.
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { resolve } from 'node:path';
import { gzipSync } from 'node:zlib';
import type { Page } from 'playwright-core';
import { build, preview } from 'vite';
import { launchChromium } from '../e2e/browser.ts';
import { pwaDir } from '../e2e/servers.ts';
import { APP_INPUTS } from '../vite.config.ts';
import { fanOutBench } from './fan-out.ts';
import { type PhotoMemoryRow, photoMemoryBench } from './photo-memory.ts';
import type { KdfBenchResult } from './seed.ts';

const RUNS = 7;
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] as number;
};
const kb = (n: number) => `${(n / 1024).toFixed(1)} KB`;
const ms = (n: number) => `${n.toFixed(1)} ms`;

async function buildTo(outDir: string, input?: Record<string, string>) {
  process.env.NODE_ENV = 'production';
  await build({
    root: pwaDir,
    configFile: resolve(pwaDir, 'vite.config.ts'),
    mode: 'production',
    logLevel: 'error',
    build: {
      outDir,
      emptyOutDir: true,
      ...(input ? { rolldownOptions: { input: { ...APP_INPUTS, ...input } } } : {}),
    },
  });
}

/**
 * Gzipped size of the JS the browser must fetch before first render: the entry and its
 * modulepreloads, not the low-priority ones that name later imports with their integrity
 * (build/integrity.ts), which the first paint does not wait for.
 */
function initialJs(outDir: string): { files: string[]; gzip: number; raw: number } {
  const html = readFileSync(resolve(outDir, 'index.html'), 'utf8');
  const files = [...html.matchAll(/<(?:script|link)\b[^>]*>/g)]
    .map((m) => m[0])
    .filter((tag) => !tag.includes('fetchpriority="low"'))
    .flatMap((tag) => /(?:src|href)="(\/assets\/[^"]+\.js)"/.exec(tag)?.[1] ?? []);
  let gzip = 0;
  let raw = 0;
  for (const f of files) {
    const bytes = readFileSync(resolve(outDir, `.${f}`));
    raw += bytes.length;
    gzip += gzipSync(bytes, { level: 9 }).length;
  }
  return { files, gzip, raw };
}

/** In-page: SPA-navigates to the chat and resolves when its last message is on screen. */
async function openChatMs(page: Page, contact: string, lastText: string): Promise<number> {
  await page.goto(`${page.url().split('/chats')[0]}/chats`);
  await page.locator(`a[href="/chats/${contact}"]`).waitFor();
  // Page code is passed as text: tsx would wrap functions with helpers the page lacks.
  return page.evaluate(`new Promise((done) => {
    const link = document.querySelector('a[href="/chats/${contact}"]');
    const t0 = performance.now();
    link.click();
    const poll = () => {
      const found = [...document.querySelectorAll('.message-scroller *')].some(
        (el) => el.childElementCount === 0 && (el.textContent || '').startsWith(${JSON.stringify(lastText)}),
      );
      if (found) done(performance.now() - t0);
      else requestAnimationFrame(poll);
    };
    poll();
  })`) as Promise<number>;
}

const BENCH_PASSPHRASE = 'bench passphrase 2026';

/** Enters the passphrase as soon as the unlock screen shows (a React-controlled input). */
const UNLOCK_SCRIPT = `(() => {
  let done = false;
  new MutationObserver(() => {
    const input = document.querySelector('input[name="passphrase"]');
    if (done || !input) return;
    done = true;
    globalThis.benchMarks.unlock = performance.now();
    const set = Object.getOwnPropertyDescriptor(HTMLInputElement.prototype, 'value').set;
    set.call(input, ${JSON.stringify(BENCH_PASSPHRASE)});
    input.dispatchEvent(new Event('input', { bubbles: true }));
    setTimeout(() => input.form.requestSubmit(), 0);
  }).observe(document, { childList: true, subtree: true });
})()`;

const MARKS_SCRIPT = `(() => {
  const marks = { shell: -1, history: -1, unlock: -1 };
  globalThis.benchMarks = marks;
  new MutationObserver(() => {
    if (marks.shell < 0 && document.querySelector('#root > *')) marks.shell = performance.now();
    if (marks.history < 0 && [...document.querySelectorAll('.message-scroller *')].some(
      (el) => el.childElementCount === 0 && (el.textContent || '').startsWith('#999 '),
    )) marks.history = performance.now();
  }).observe(document, { childList: true, subtree: true, characterData: true });
})()`;

async function main() {
  const shipDir = resolve(pwaDir, 'node_modules/.bench-ship');
  const benchDir = resolve(pwaDir, 'node_modules/.bench-dist');
  await buildTo(shipDir);
  const js = initialJs(shipDir);
  await buildTo(benchDir, { seed: resolve(pwaDir, 'bench/seed.html') });

  // No relay behind /api: the app runs as it does offline after a restart.
  process.env.RELAY_PORT = '9';
  const server = await preview({
    root: pwaDir,
    configFile: resolve(pwaDir, 'vite.config.ts'),
    logLevel: 'error',
    build: { outDir: benchDir },
    preview: { host: '127.0.0.1', port: 0 },
  });
  const base = (server.resolvedUrls?.local[0] ?? '').replace(/\/$/, '');
  const browser = await launchChromium();
  try {
    const context = await browser.newContext({ locale: 'en-US' });
    const page = await context.newPage();
    await page.goto(`${base}/bench/seed.html`);
    await page.waitForFunction("document.title === 'seed ready'");
    await page.evaluate(
      `globalThis.benchSeed('bench_locked', { big_chat: 1000 }, ${JSON.stringify(BENCH_PASSPHRASE)})`,
    );
    // Seeded last, so it is the account the app opens first.
    await page.evaluate("globalThis.benchSeed('bench_user', { big_chat: 1000, small_chat: 10 })");
    const photo = (await page.evaluate('globalThis.benchPhoto()')) as {
      decodeMs: number;
      pipelineMs: number;
      inputBytes: number;
      outputBytes: number;
    };
    const rotation = (await page.evaluate(`globalThis.benchRotation(${RUNS})`)) as {
      rotationMs: number[];
      topUpMs: number[];
    };

    // Open the app once so the service worker installs and takes control.
    await page.goto(`${base}/chats`);
    await page.locator('a[href="/chats/big_chat"]').waitFor();
    await page.evaluate('navigator.serviceWorker.ready.then(() => undefined)');
    await page.reload();
    await page.locator('a[href="/chats/big_chat"]').waitFor();

    // The key derivation uses its worker only on a page the service worker controls
    // (storage/kdf.ts), so it is measured on such a page.
    await page.goto(`${base}/bench/seed.html`);
    await page.waitForFunction("document.title === 'seed ready'");
    if (!(await page.evaluate('!!navigator.serviceWorker.controller')))
      throw new Error('the key derivation must be measured on a page the service worker controls');
    const kdf = (await page.evaluate(`globalThis.benchKdf(${RUNS})`)) as KdfBenchResult;
    await page.goto(`${base}/chats`);
    await page.locator('a[href="/chats/big_chat"]').waitFor();

    const big: number[] = [];
    const small: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      small.push(await openChatMs(page, 'small_chat', '#9 '));
      big.push(await openChatMs(page, 'big_chat', '#999 '));
    }

    // Offline cold starts: a fresh tab each time, network off, served by the service worker.
    // The account is open in one tab at a time (state/active-tab.ts): this one lets it go.
    await page.close();
    await context.setOffline(true);
    const history: number[] = [];
    const shell: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      const tab = await context.newPage();
      await tab.addInitScript(MARKS_SCRIPT);
      await tab.goto(`${base}/chats/big_chat`);
      const marks = await tab.waitForFunction(
        'globalThis.benchMarks.history >= 0 && globalThis.benchMarks.shell >= 0 ? globalThis.benchMarks : null',
      );
      const m = (await marks.jsonValue()) as { shell: number; history: number };
      shell.push(m.shell);
      history.push(m.history);
      await tab.close();
    }

    // The same cold start with an app lock: the unlock screen appears, the passphrase is
    // entered at once (no typing time), and the clock stops when the history is on screen.
    const switcher = await context.newPage();
    await switcher.goto(`${base}/login`);
    await switcher.evaluate("localStorage.setItem('sd.account', 'bench_locked')");
    await switcher.close();
    const locked: number[] = [];
    const unlockScreen: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      const tab = await context.newPage();
      await tab.addInitScript(MARKS_SCRIPT);
      await tab.addInitScript(UNLOCK_SCRIPT);
      await tab.goto(`${base}/chats/big_chat`);
      const marks = await tab.waitForFunction(
        'globalThis.benchMarks.history >= 0 && globalThis.benchMarks.unlock >= 0 ? globalThis.benchMarks : null',
        undefined,
        { timeout: 60_000 },
      );
      const m = (await marks.jsonValue()) as { unlock: number; history: number };
      locked.push(m.history);
      unlockScreen.push(m.unlock);
      await tab.close();
    }

    const r = {
      js,
      openBig: median(big),
      openSmall: median(small),
      coldHistory: median(history),
      coldShell: median(shell),
      photo,
      rotation: median(rotation.rotationMs),
      topUp: median(rotation.topUpMs),
      kdfShipped: median(kdf.shipped),
      kdfFloor: median(kdf.floor),
      kdfNoble: median(kdf.noble),
      kdfMainThread: median(kdf.mainThread),
      gapWorker: median(kdf.gapWorker),
      gapMainThread: median(kdf.gapMainThread),
      coldLocked: median(locked),
      unlockScreen: median(unlockScreen),
      photoMemory: await photoMemoryBench(),
      fanOut: await fanOutBench(),
    };
    report(r);
  } finally {
    await browser.close();
    await new Promise<void>((done) => server.httpServer.close(() => done()));
  }
}

function report(r: {
  js: ReturnType<typeof initialJs>;
  openBig: number;
  openSmall: number;
  coldHistory: number;
  coldShell: number;
  photo: { decodeMs: number; pipelineMs: number; inputBytes: number; outputBytes: number };
  rotation: number;
  topUp: number;
  kdfShipped: number;
  kdfFloor: number;
  kdfNoble: number;
  kdfMainThread: number;
  gapWorker: number;
  gapMainThread: number;
  coldLocked: number;
  unlockScreen: number;
  photoMemory: PhotoMemoryRow[];
  fanOut: string;
}) {
  const rows = [
    [
      'initial JavaScript (gzip)',
      kb(r.js.gzip),
      `${(r.js.gzip / (170 * 1024)).toFixed(2)}× of the 170 KB target`,
      `${r.js.files.length} file(s), ${kb(r.js.raw)} raw`,
    ],
    [
      'open a chat of 1,000 cached messages',
      ms(r.openBig),
      `${(r.openBig / r.openSmall).toFixed(2)}× a 10-message chat (${ms(r.openSmall)})`,
      `target ≤ 100 ms; median of ${RUNS}`,
    ],
    [
      'offline cold start → readable history',
      ms(r.coldHistory),
      `${(r.coldHistory / r.coldShell).toFixed(2)}× first app-shell paint (${ms(r.coldShell)})`,
      `target ≤ 1 s; median of ${RUNS}`,
    ],
    [
      'photo pipeline, 12 MP JPEG',
      ms(r.photo.pipelineMs),
      `${(r.photo.pipelineMs / r.photo.decodeMs).toFixed(2)}× decoding it alone (${ms(r.photo.decodeMs)})`,
      `${kb(r.photo.inputBytes)} in → ${kb(r.photo.outputBytes)} encrypted (2560×1920)`,
    ],
    [
      'signed prekey rotation (one maintenance run)',
      ms(r.rotation),
      `${(r.rotation / r.topUp).toFixed(2)}× a top-up of 100 one-time prekeys (${ms(r.topUp)})`,
      `every 2 days; X25519 + ML-KEM-768 pair, strict write; median of ${RUNS}`,
    ],
    [
      'app lock: Argon2id 64 MiB, t=2 (hash-wasm, Web Worker)',
      ms(r.kdfShipped),
      `${(r.kdfShipped / r.kdfFloor).toFixed(2)}× OWASP's floor, 19 MiB t=2 (${ms(r.kdfFloor)})`,
      `target 0.5–1 s; @noble/hashes at 64 MiB: ${ms(r.kdfNoble)} (${(r.kdfNoble / r.kdfShipped).toFixed(1)}× slower); median of ${RUNS}`,
    ],
    [
      'app lock: the same derivation, worker vs page thread',
      ms(r.kdfShipped),
      `${(r.kdfShipped / r.kdfMainThread).toFixed(2)}× on the page's own thread (${ms(r.kdfMainThread)})`,
      `longest frame gap meanwhile: ${ms(r.gapWorker)} in the worker vs ${ms(r.gapMainThread)} on the page thread; median of ${RUNS}`,
    ],
    [
      'offline cold start with app lock → readable history',
      ms(r.coldLocked),
      `${(r.coldLocked / r.coldHistory).toFixed(2)}× the cold start without a lock (${ms(r.coldHistory)})`,
      `unlock screen at ${ms(r.unlockScreen)}; passphrase entered at once; median of ${RUNS}`,
    ],
    ...r.photoMemory.map((x) => [x.measure, x.result, x.ratio, x.notes]),
  ];
  const table = [
    '| measure | result | ratio to same-run baseline | notes |',
    '| --- | --- | --- | --- |',
    ...rows.map((x) => `| ${x.join(' | ')} |`),
  ].join('\n');
  console.log(table);
  console.log(`\n${r.fanOut}`);
  const file = resolve(pwaDir, 'BENCHMARKS.md');
  let md = readFileSync(file, 'utf8');
  md = replaceBlock(
    md,
    'latest',
    `## Latest run (${new Date().toISOString().slice(0, 10)}, ${process.platform}/${process.arch}, 2 shared cores)\n\n${table}`,
  );
  md = replaceBlock(
    md,
    'fan-out',
    `Latest run (${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC; load average 1/5/15 min at its end: ${loadavg()
      .map((l) => l.toFixed(2))
      .join(', ')}):\n\n${r.fanOut}`,
  );
  writeFileSync(file, md);
  // Same formatting as every other file in the repository (Biome formats Markdown tables).
  execFileSync(resolve(pwaDir, '../node_modules/.bin/biome'), ['format', '--write', file], {
    stdio: 'ignore',
  });
}

/**
 * BENCHMARKS.md with what lies between `<!-- bench:NAME -->` and `<!-- /bench:NAME -->` replaced
 * by `content`: a run writes its own figures there and leaves the method and the readings of
 * earlier runs, written around them, as they are.
 */
function replaceBlock(md: string, name: string, content: string): string {
  const open = `<!-- bench:${name} -->`;
  const close = `<!-- /bench:${name} -->`;
  const from = md.indexOf(open);
  const to = md.indexOf(close);
  if (from < 0 || to < from) throw new Error(`BENCHMARKS.md has no ${open} … ${close} block`);
  return `${md.slice(0, from + open.length)}\n\n${content}\n\n${md.slice(to)}`;
}

await main();
