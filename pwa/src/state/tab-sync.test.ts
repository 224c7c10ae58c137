// The tabs' shared lock channel (tab-sync.ts) with IdleLock on injected clocks, one per tab as
// in a browser: use in one tab pushes back another's idle lock; what another page of the
// origin posts is checked before anything acts on it. The app-level behaviour (a lock in one
// tab locks all, each tab unlocks itself) is in app-lock.test.ts and pwa/e2e/locks-tabs.e2e.ts.
import { afterEach, describe, expect, it } from 'vitest';
import { type Clock, IdleLock } from './idle-lock.ts';
import { ACTIVITY_POST_MS, type TabEvent, TabSync } from './tab-sync.ts';

function manualClock(start = 0) {
  let now = start;
  let seq = 0;
  let timers: { at: number; id: number; fn: () => void }[] = [];
  const clock: Clock & { advance(ms: number): void } = {
    now: () => now,
    setTimeout(fn, ms) {
      seq += 1;
      timers.push({ at: now + ms, id: seq, fn });
      return seq;
    },
    clearTimeout(id) {
      timers = timers.filter((t) => t.id !== id);
    },
    advance(ms) {
      const end = now + ms;
      for (;;) {
        const due = timers.filter((t) => t.at <= end).sort((a, b) => a.at - b.at)[0];
        if (!due) break;
        timers = timers.filter((t) => t !== due);
        now = due.at;
        due.fn();
      }
      now = end;
    },
  };
  return clock;
}

const open: { close(): void }[] = [];
afterEach(() => {
  for (const c of open.splice(0)) c.close();
});

/** A tab's end of the channel that records what arrives; next() resolves on the next arrival. */
function receiver(clock: Clock, name: string, onEvent: (e: TabEvent) => void = () => undefined) {
  const got: { user: string; event: TabEvent }[] = [];
  let arrived: () => void = () => undefined;
  const sync = new TabSync(
    clock,
    (user, event) => {
      got.push({ user, event });
      onEvent(event);
      arrived();
    },
    name,
  );
  open.push(sync);
  return {
    got,
    next: () =>
      new Promise<void>((resolve) => {
        arrived = resolve;
      }),
  };
}

describe('TabSync: one idle lock across tabs', () => {
  it('use in one tab pushes back the idle lock of another; activity is posted at most once per 5 s', async () => {
    const name = `tabs-${crypto.randomUUID()}`;
    const clockA = manualClock();
    const clockB = manualClock();
    let lockedB = 0;
    const idleB = new IdleLock(clockB, 60_000, () => {
      lockedB += 1;
    });
    const b = receiver(clockB, name, (e) => {
      if (e.type === 'activity') idleB.activity();
    });
    const a = new TabSync(clockA, () => undefined, name);
    open.push(a);
    idleB.start();

    clockB.advance(50_000);
    let arrival = b.next();
    a.activity('alice');
    await arrival;
    clockB.advance(50_000); // 100 s since B started, 50 s since the use in A
    expect(lockedB).toBe(0);

    // Within 5 s of the last post nothing is sent; the next one after is.
    clockA.advance(ACTIVITY_POST_MS - 1);
    a.activity('alice');
    clockA.advance(1);
    arrival = b.next();
    a.activity('alice');
    await arrival;
    // Messages of one sender arrive in order: had the throttled one been sent, it would be here.
    expect(b.got.map((m) => m.event.type)).toEqual(['activity', 'activity']);
    expect(b.got.every((m) => m.user === 'alice')).toBe(true);

    // Counted from that last use: B locks a full idle time later, not before.
    clockB.advance(59_999);
    expect(lockedB).toBe(0);
    clockB.advance(1);
    expect(lockedB).toBe(1);
  });

  it('ignores what is not one of its messages (another page of the origin may post anything)', async () => {
    const name = `tabs-${crypto.randomUUID()}`;
    const clock = manualClock();
    const b = receiver(clock, name);
    const raw = new BroadcastChannel(name);
    open.push(raw);
    const arrival = b.next();
    for (const junk of [
      null,
      'lock',
      { user: 'alice' },
      { user: '', event: { type: 'lock', kind: 'passphrase' } },
      { user: 'x'.repeat(65), event: { type: 'lock', kind: 'passphrase' } },
      { user: 'alice', event: { type: 'lock', kind: 'root' } },
      { user: 'alice', event: { type: 'unlock', key: 'k' } },
    ])
      raw.postMessage(junk);
    raw.postMessage({
      user: 'alice',
      event: { type: 'lock-kind', kind: 'passkey', idleMinutes: 5, extra: 1 },
    });
    await arrival;
    // A lock change carries nothing to believe: the receiving tab reads its own store.
    expect(b.got).toEqual([{ user: 'alice', event: { type: 'lock-kind' } }]);
  });
});
