// Reading the account's contact and block lists again after a contacts_changed item
// (spec/protocol.md §16.4). A read starts LISTS_GATHER_MS after the first item asks for it, and
// one more follows it if items arrive during it, so a burst of items costs one or two reads (a
// device back after a day replays every change made meanwhile, and each read is two requests).
// It runs off the incoming stream's queue (messages behind the items do not wait for it), and
// again later while it fails: one transient error must not leave a chat with a user blocked
// elsewhere unmarked on this device until the next connection.

/** How long a first item waits for the rest of its burst before the lists are read, ms. */
export const LISTS_GATHER_MS = 200;
/** The first retry after a failed read, ms; each further one waits twice as long, up to the max. */
export const LISTS_RETRY_MIN_MS = 1000;
export const LISTS_RETRY_MAX_MS = 60_000;

export class ListsRefresh {
  private running = false;
  private again = false;
  private retryMs = 0;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private timerAt = 0;
  private stopped = false;

  constructor(private readonly read: () => Promise<void>) {}

  /** Asks for a read: soon (LISTS_GATHER_MS), or once more after the one in progress. */
  request(): void {
    if (this.stopped) return;
    if (this.running) {
      this.again = true;
      return;
    }
    this.schedule(LISTS_GATHER_MS);
  }

  /** A read in `ms`, unless one is due sooner already (a burst must not keep putting it off). */
  private schedule(ms: number): void {
    const at = Date.now() + ms;
    if (this.timer !== undefined && this.timerAt <= at) return;
    clearTimeout(this.timer);
    this.timerAt = at;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.run();
    }, ms);
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
  }

  private async run(): Promise<void> {
    this.running = true;
    this.again = false;
    let failed = false;
    try {
      await this.read();
      this.retryMs = 0;
    } catch {
      failed = true;
    }
    this.running = false;
    if (this.stopped) return;
    // A change announced during the read may not be in what it read: read again.
    if (this.again) return this.request();
    if (!failed) return;
    this.retryMs = this.retryMs === 0 ? LISTS_RETRY_MIN_MS : Math.min(LISTS_RETRY_MAX_MS, 2 * this.retryMs);
    this.schedule(this.retryMs);
  }
}
