// One app lock for every open tab of the app (SECURITY.md "What a user's device holds"): the
// tabs of one browser tell each other, over a BroadcastChannel, that the user did something
// (so the idle time counts from the last use in ANY tab), that a tab locked (so all lock),
// that the lock was set, changed or removed, and that the user logged out or erased the device.
//
// Unlocking is NOT shared: each tab asks for the passphrase (or passkey) itself. An unlock is
// the user present at one screen; a tab left open in another window, perhaps on another
// display, should not open with it — and sharing would mean sending the data key (or the
// passphrase) between tabs.
//
// Where the Web Locks API exists the account is open in one tab at a time (active-tab.ts) and the
// others hold nothing of it: there a log-out or an erase still sends them to the login screen, a
// lock change is noted for when they open the account, and activity comes from the one open tab.
// Without Web Locks every tab is open, and all of it applies between them.
//
// Activity is announced at most once per ACTIVITY_POST_MS, so typing does not flood the
// channel; the receiving tab counts it at its own clock's now. The other tabs can therefore
// see the last use up to that much late, which makes them lock up to that much early, never late.
import type { LockKind } from '../storage/keyring.ts';
import type { Clock } from './idle-lock.ts';

export const TAB_CHANNEL = 'secure-drop.app-lock';
export const ACTIVITY_POST_MS = 5_000;

export type TabEvent =
  | { readonly type: 'activity' }
  | { readonly type: 'lock'; readonly kind: LockKind }
  /**
   * The lock was set, changed or removed, or its idle time changed: each tab reads the lock from
   * its own store. Any page of the origin can post this, so it carries nothing to believe.
   */
  | { readonly type: 'lock-kind' }
  | { readonly type: 'signed-out' };

interface Envelope {
  readonly user: string;
  readonly event: TabEvent;
}

const KINDS: readonly string[] = ['none', 'passphrase', 'passkey'] satisfies LockKind[];

/** What another tab posted, checked like any input (a page of the origin may post anything). */
function parse(data: unknown): Envelope | null {
  if (!data || typeof data !== 'object') return null;
  const { user, event } = data as { user?: unknown; event?: unknown };
  if (typeof user !== 'string' || user.length === 0 || user.length > 64) return null;
  if (!event || typeof event !== 'object') return null;
  const e = event as Record<string, unknown>;
  switch (e.type) {
    case 'activity':
    case 'signed-out':
      return { user, event: { type: e.type } };
    case 'lock':
      return typeof e.kind === 'string' && KINDS.includes(e.kind)
        ? { user, event: { type: 'lock', kind: e.kind as LockKind } }
        : null;
    case 'lock-kind':
      return { user, event: { type: 'lock-kind' } };
    default:
      return null;
  }
}

export class TabSync {
  private readonly channel: BroadcastChannel | null;
  private lastActivityPost = Number.NEGATIVE_INFINITY;

  constructor(
    private readonly clock: Clock,
    onEvent: (user: string, event: TabEvent) => void,
    name = TAB_CHANNEL,
  ) {
    // Without BroadcastChannel each tab keeps its own lock, as before.
    this.channel = typeof BroadcastChannel === 'function' ? new BroadcastChannel(name) : null;
    if (this.channel)
      this.channel.onmessage = (ev: MessageEvent) => {
        const m = parse(ev.data);
        if (m) onEvent(m.user, m.event);
      };
    // Node (unit tests) would otherwise keep running for an open channel.
    (this.channel as { unref?: () => void } | null)?.unref?.();
  }

  /** Tells the other tabs; a tab never receives what it posted itself. */
  post(user: string, event: TabEvent): void {
    this.channel?.postMessage({ user, event } satisfies Envelope);
  }

  /** The user did something here: tells the others, at most once per ACTIVITY_POST_MS. */
  activity(user: string): void {
    const now = this.clock.now();
    if (now - this.lastActivityPost < ACTIVITY_POST_MS) return;
    this.lastActivityPost = now;
    this.post(user, { type: 'activity' });
  }

  close(): void {
    this.channel?.close();
  }
}
