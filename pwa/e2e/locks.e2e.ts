// The conversation lock across tabs: two KeyedMutex instances (as two tabs would hold) over
// Chromium's real Web Locks never run tasks of the same key at the same time.
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium } from './browser.ts';
import { type Served, startDevServer } from './servers.ts';

let browser: Browser;
let served: Served;

beforeAll(async () => {
  served = await startDevServer();
  browser = await launchChromium();
});
afterAll(async () => {
  await browser?.close();
  await served?.close();
});

describe('KeyedMutex over Web Locks', () => {
  it('excludes the same key across instances and lets different keys overlap', async () => {
    const page = await browser.newPage();
    await page.goto(served.url);
    // Sent as text so the page, not the test runner, resolves the import.
    const log = (await page.evaluate(`(async () => {
      const { KeyedMutex } = await import('/src/secure/mutex.ts');
      const tabA = new KeyedMutex();
      const tabB = new KeyedMutex();
      const log = [];
      const wait = (ms) => new Promise((r) => setTimeout(r, ms));
      const task = (m, key, name, ms) => m.run(key, async () => { log.push('start ' + name); await wait(ms); log.push('end ' + name); });
      await Promise.all([task(tabA, 'chat', 'a1', 60), task(tabB, 'chat', 'b1', 5), task(tabB, 'other', 'o1', 5)]);
      return log;
    })()`)) as string[];
    expect(log.indexOf('end a1')).toBeLessThan(log.indexOf('start b1'));
    expect(log.indexOf('end o1')).toBeLessThan(log.indexOf('end a1'));
  });
});
