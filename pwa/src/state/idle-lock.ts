// Locks the app after a stretch without use (SECURITY.md "What a user's device holds": an app
// lock protects a device left alone only once it has locked). Time comes from an injected
// clock so tests drive it; activity only records a time stamp, and the one timer re-arms for
// the remainder, so typing does not churn timers. A tab in the background may have its timers
// delayed: check() runs again when it becomes visible, and locks at once if the time is up.

export interface Clock {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => globalThis.setTimeout(fn, ms),
  clearTimeout: (h) => globalThis.clearTimeout(h as ReturnType<typeof setTimeout>),
};

/** Idle times offered in Settings, in minutes. */
export const IDLE_MINUTES = [1, 5, 15, 30, 60] as const;
export const DEFAULT_IDLE_MINUTES = 15;

export class IdleLock {
  private last = 0;
  private timer: unknown = null;
  private running = false;

  constructor(
    private readonly clock: Clock,
    private timeoutMs: number,
    private readonly onIdle: () => void,
  ) {}

  get active(): boolean {
    return this.running;
  }

  start(): void {
    this.running = true;
    this.last = this.clock.now();
    this.arm(this.timeoutMs);
  }

  stop(): void {
    this.running = false;
    this.disarm();
  }

  /** The user did something: the idle time starts again. */
  activity(): void {
    if (this.running) this.last = this.clock.now();
  }

  setTimeoutMs(ms: number): void {
    this.timeoutMs = ms;
    this.check();
  }

  /** Locks now if the idle time is up, otherwise waits for the rest of it. */
  check(): void {
    if (!this.running) return;
    const idle = this.clock.now() - this.last;
    if (idle >= this.timeoutMs) {
      this.stop();
      this.onIdle();
    } else this.arm(this.timeoutMs - idle);
  }

  private arm(ms: number): void {
    this.disarm();
    this.timer = this.clock.setTimeout(() => {
      this.timer = null;
      this.check();
    }, ms);
  }

  private disarm(): void {
    if (this.timer !== null) this.clock.clearTimeout(this.timer);
    this.timer = null;
  }
}
