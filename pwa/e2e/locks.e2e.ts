// The locks across tabs, over Chromium's real Web Locks: two KeyedMutex instances (as two tabs
// would hold) never run tasks of the same key at the same time; of two ActiveTab instances one
// holds the account, a waiting claim gives up, a taking one steals and tells the other.
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

describe('ActiveTab over Web Locks', () => {
  it('one instance holds the account; "wait" gives up, "take" steals and tells the loser; release frees it', async () => {
    const page = await browser.newPage();
    await page.goto(served.url);
    const log = (await page.evaluate(`(async () => {
      const { ActiveTab, START_WAIT_MS } = await import('/src/state/active-tab.ts');
      const log = [];
      const tabA = new ActiveTab((u) => log.push('A lost ' + u));
      const tabB = new ActiveTab((u) => log.push('B lost ' + u));
      log.push('A wait ' + (await tabA.claim('alice', 'wait')));
      log.push('A again ' + (await tabA.claim('alice', 'wait')));
      const t0 = performance.now();
      log.push('B wait ' + (await tabB.claim('alice', 'wait')));
      log.push('B waited ' + (performance.now() - t0 >= START_WAIT_MS - 50));
      log.push('B other account ' + (await tabB.claim('bob', 'wait')));
      log.push('B take ' + (await tabB.claim('alice', 'take')));
      await new Promise((r) => setTimeout(r, 50));
      log.push('A holds ' + tabA.holds('alice') + ', B holds ' + tabB.holds('alice'));
      tabB.release();
      log.push('A wait after release ' + (await tabA.claim('alice', 'wait')));
      tabA.release();
      return log;
    })()`)) as string[];
    expect(log.slice(0, 5)).toEqual([
      'A wait true',
      'A again true',
      'B wait false',
      'B waited true',
      'B other account true',
    ]);
    // The loser may hear of the steal before or after the taker's claim resolves.
    expect(log.slice(5, 7).sort()).toEqual(['A lost alice', 'B take true']);
    expect(log.slice(7)).toEqual(['A holds false, B holds true', 'A wait after release true']);
  });
});
