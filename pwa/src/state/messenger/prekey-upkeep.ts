// Prekey upkeep while the app runs: signed prekeys rotated when due, expired secrets deleted,
// one-time prekeys topped up when the relay says the stock runs low (spec/protocol.md §4.7).
import type { SessionManager } from '../../secure/session-manager.ts';
import type { RelayApi } from '../../transport/api.ts';

/** A failed prekey maintenance (offline, refused) is tried again after this long. */
const PREKEY_RETRY_MS = 10 * 60 * 1000;
/** setTimeout's largest delay (2^31 − 1 ms); a later maintenance is re-planned when it fires. */
const MAX_TIMER_MS = 2 ** 31 - 1;

export class PrekeyUpkeep {
  private timer: ReturnType<typeof setTimeout> | null = null;
  private stopped = false;
  /** The top-up running now, and whether another was asked for meanwhile. */
  private topping: Promise<void> | null = null;
  private again = false;

  constructor(
    private readonly o: {
      readonly sm: SessionManager;
      readonly api: Pick<RelayApi, 'keyStatus'>;
      readonly clock: () => number;
      /** True when every stream item the relay holds after our cursor has been handled. */
      readonly mailboxFetched: () => Promise<boolean>;
    },
  ) {}

  /**
   * Rotates the signed prekeys when due, publishes what an earlier run could not, deletes
   * expired secrets (spec/protocol.md §4.7), then plans the next run: at the next due time
   * while the app runs, sooner after a failure. Runs on start (when online) and on every
   * reconnection, so a rotation overdue while the app was closed happens first thing.
   */
  async maintain(): Promise<void> {
    if (this.stopped) return;
    let retry = false;
    try {
      // Expired prekeys go only once the mailbox is fetched: a first message waiting there
      // may name one (spec/protocol.md §4.7).
      const deleteExpired = await this.o.mailboxFetched();
      const result = await this.o.sm.maintainPrekeys({ deleteExpired });
      retry = result.uploadError !== undefined || !deleteExpired;
    } catch {
      retry = true; // locked store, missing state: tried again later
    }
    if (this.stopped) return;
    if (this.timer) clearTimeout(this.timer);
    let delay = PREKEY_RETRY_MS;
    if (!retry) {
      const at = await this.o.sm.nextPrekeyMaintenance().catch(() => this.o.clock() + PREKEY_RETRY_MS);
      delay = Math.max(1000, at - this.o.clock());
    }
    this.timer = setTimeout(
      () => {
        this.timer = null;
        void this.maintain();
      },
      Math.min(delay, MAX_TIMER_MS),
    );
  }

  /**
   * Adds a batch of each kind of one-time prekey whose stock the relay says runs low; the oldest
   * unused secrets past the device's cap make room only once the mailbox is read to the end.
   * One at a time: the relay pushes prekeys_low after each bundle fetch while a stock is low, and
   * each top-up asked for meanwhile becomes one more pass after this one, not a batch each.
   */
  topUp(): Promise<void> {
    if (this.topping) {
      this.again = true;
      return this.topping;
    }
    const run = async () => {
      try {
        do {
          this.again = false;
          await this.topUpOnce();
        } while (this.again && !this.stopped);
      } finally {
        this.topping = null;
      }
    };
    this.topping = run();
    return this.topping;
  }

  private async topUpOnce(): Promise<void> {
    const status = await this.o.api.keyStatus();
    if (!status.prekeys_low && !status.pq_prekeys_low) return;
    const evict = await this.o.mailboxFetched();
    await this.o.sm.topUpPrekeys({ x25519: status.prekeys_low, mlkem: status.pq_prekeys_low, evict });
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }
}
