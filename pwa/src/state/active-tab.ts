// One tab at a time (SECURITY.md "What a user's device holds"): the account's store is open, and
// its messenger connected, in one tab or window of this browser only. Every tab of an origin
// shares one store, but each tab keeps its own view of it in memory (chats, messages, contacts),
// and a message can be decrypted once only (its message key is deleted, spec/protocol.md §7):
// with two live tabs, a message showed only in the tab that decrypted it first, a message sent
// in one never showed in the other, and a contact added in one stayed missing from the other
// until a reload.
// WhatsApp Web answers this the same way: the other tab says the app is open elsewhere and
// offers to use it here.
//
// The tab that holds the Web Lock ACTIVE_TAB_LOCK for the account is the active one:
// - a tab that starts (or reloads) waits up to START_WAIT_MS for it: a reload's old document
//   lets it go as it unloads, but the browser may hand that release over a little after the new
//   document asks; a tab that is really open keeps it, and this one then shows "open in another
//   tab or window";
// - "Use here", a login, a registration and an unlock are the user acting in this tab: they
//   take the lock from whichever tab holds it (`steal`), and that tab closes its session.
// Without the Web Locks API (older browsers, unit tests under Node) every tab is active, as
// before.

export const ACTIVE_TAB_LOCK = 'secure-drop:active-tab:';
/** How long a starting tab waits for the lock before it says another tab has the app, ms. */
export const START_WAIT_MS = 1500;

/** The part of navigator.locks this uses (Web Locks API). */
export interface TabLocks {
  request(
    name: string,
    options: { steal?: boolean; signal?: AbortSignal },
    callback: (lock: unknown) => Promise<void>,
  ): Promise<void>;
}

export class ActiveTab {
  /** The account whose lock this tab holds, and how to let it go. */
  private held: { username: string; release: () => void } | null = null;

  constructor(
    /** Called when another tab took the lock: this tab must close its session. */
    private readonly onTaken: (username: string) => void,
    private readonly locks: TabLocks | undefined = (globalThis.navigator as { locks?: TabLocks } | undefined)
      ?.locks,
  ) {}

  /**
   * Whether an account is open in one tab at most (Web Locks): then no other tab of this app
   * uses it, and nothing another tab says about its use can be true.
   */
  get exclusive(): boolean {
    return this.locks !== undefined;
  }

  /** Whether this tab is the active one for `username` (always, without Web Locks). */
  holds(username: string): boolean {
    return !this.locks || this.held?.username === username;
  }

  /**
   * Makes this tab the active one for `username`. 'wait': only if no other tab gives it up
   * within START_WAIT_MS (a start or a reload); 'take': from whichever tab has it (the user acts
   * here). Resolves whether this tab now holds it.
   */
  async claim(username: string, how: 'wait' | 'take'): Promise<boolean> {
    const locks = this.locks;
    if (!locks || this.held?.username === username) return true;
    this.release();
    // (An AbortController and a timer, not AbortSignal.timeout: Web Locks shipped in browsers
    // that do not have that yet.)
    const abort = new AbortController();
    const timer = how === 'wait' ? setTimeout(() => abort.abort(), START_WAIT_MS) : undefined;
    const options = how === 'take' ? { steal: true } : { signal: abort.signal };
    return new Promise<boolean>((resolve) => {
      let mine: { username: string; release: () => void } | null = null;
      locks
        .request(ACTIVE_TAB_LOCK + username, options, () => {
          clearTimeout(timer);
          // Held until release() settles this promise, or another tab steals the lock.
          const held = new Promise<void>((release) => {
            mine = { username, release };
          });
          this.held = mine;
          resolve(true);
          return held;
        })
        .then(
          () => undefined,
          () => {
            // Not granted within the wait (AbortError): another tab is using the app.
            if (!mine) return resolve(false);
            // Stolen (AbortError): another tab took it while this one held it.
            if (this.held === mine) {
              this.held = null;
              this.onTaken(username);
            }
          },
        );
    });
  }

  /** Lets the lock go (signed out, or the page is going away). */
  release(): void {
    const held = this.held;
    this.held = null;
    held?.release();
  }
}
