// One operation at a time per key (spec/protocol.md §7.6: one decrypt/encrypt at a time per
// conversation, so ratchet state is never read and written by two operations at once).
// Operations on different keys run concurrently; on the same key, strictly in call order.
// Where the Web Locks API exists (browsers), the lock also holds across tabs of the same
// origin — two open tabs share one IndexedDB store and must not interleave either.

interface LockManagerLike {
  request<T>(name: string, callback: () => Promise<T>): Promise<T>;
}

export class KeyedMutex {
  private readonly tails = new Map<string, Promise<unknown>>();

  constructor(
    private readonly locks: LockManagerLike | undefined = (
      globalThis.navigator as { locks?: LockManagerLike } | undefined
    )?.locks,
    private readonly prefix = 'secure-drop:',
  ) {}

  run<T>(key: string, task: () => Promise<T>): Promise<T> {
    const guarded = this.locks
      ? () => (this.locks as LockManagerLike).request(this.prefix + key, task)
      : task;
    const previous = this.tails.get(key) ?? Promise.resolve();
    // The next task starts after the previous one settles, whether it failed or not.
    const result = previous.then(guarded, guarded);
    const tail = result.then(
      () => undefined,
      () => undefined,
    );
    this.tails.set(key, tail);
    void tail.then(() => {
      if (this.tails.get(key) === tail) this.tails.delete(key);
    });
    return result;
  }

  /** Keys with an operation queued or running (for tests and diagnostics). */
  get busyKeys(): string[] {
    return [...this.tails.keys()];
  }
}
