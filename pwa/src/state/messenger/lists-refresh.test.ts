// @vitest-environment node
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { LISTS_GATHER_MS, LISTS_RETRY_MAX_MS, LISTS_RETRY_MIN_MS, ListsRefresh } from './lists-refresh.ts';

/** A read that stays open until the test settles it. */
function heldReads() {
  const pending: { resolve: () => void; reject: (e: Error) => void }[] = [];
  const read = vi.fn(
    () =>
      new Promise<void>((resolve, reject) => {
        pending.push({ resolve, reject });
      }),
  );
  return { read, pending };
}

beforeEach(() => vi.useFakeTimers());
afterEach(() => vi.useRealTimers());

describe('ListsRefresh', () => {
  it('a burst of requests is one read; requests during it, one more', async () => {
    const { read, pending } = heldReads();
    const r = new ListsRefresh(read);
    // Requests spread over the gathering time do not put the read off.
    for (let i = 0; i < 10; i++) {
      r.request();
      await vi.advanceTimersByTimeAsync(LISTS_GATHER_MS / 10 - 1);
    }
    expect(read).not.toHaveBeenCalled();
    await vi.advanceTimersByTimeAsync(10);
    expect(read).toHaveBeenCalledTimes(1);
    for (let i = 0; i < 200; i++) r.request();
    pending[0]?.resolve();
    await vi.advanceTimersByTimeAsync(LISTS_GATHER_MS);
    expect(read).toHaveBeenCalledTimes(2);
    pending[1]?.resolve();
    await vi.runAllTimersAsync();
    expect(read).toHaveBeenCalledTimes(2);
  });

  it('retries a failed read, waiting twice as long each time up to the max, until one succeeds', async () => {
    const { read, pending } = heldReads();
    const r = new ListsRefresh(read);
    r.request();
    await vi.advanceTimersByTimeAsync(LISTS_GATHER_MS);
    const waits: number[] = [];
    for (let n = 1; n <= 8; n++) {
      const failedAt = Date.now();
      pending[n - 1]?.reject(new Error('offline'));
      while (read.mock.calls.length === n) await vi.advanceTimersToNextTimerAsync();
      waits.push(Date.now() - failedAt);
    }
    expect(waits).toEqual(
      [1, 2, 4, 8, 16, 32, 64, 128].map((k) => Math.min(k * LISTS_RETRY_MIN_MS, LISTS_RETRY_MAX_MS)),
    );
    pending[8]?.resolve();
    await vi.runAllTimersAsync();
    expect(read).toHaveBeenCalledTimes(9);
    // After a success the next failure starts from the shortest wait again.
    r.request();
    await vi.advanceTimersByTimeAsync(LISTS_GATHER_MS);
    pending[9]?.reject(new Error('offline'));
    await vi.advanceTimersByTimeAsync(LISTS_RETRY_MIN_MS);
    expect(read).toHaveBeenCalledTimes(11);
  });

  it('a new request does not wait out a long retry', async () => {
    const { read, pending } = heldReads();
    const r = new ListsRefresh(read);
    r.request();
    for (let n = 1; n <= 7; n++) {
      while (read.mock.calls.length < n) await vi.advanceTimersToNextTimerAsync();
      pending[n - 1]?.reject(new Error('offline'));
    }
    // The next retry is a minute away; an item arriving now reads after the gathering time.
    await vi.advanceTimersByTimeAsync(0);
    r.request();
    await vi.advanceTimersByTimeAsync(LISTS_GATHER_MS);
    expect(read).toHaveBeenCalledTimes(8);
  });

  it('stops: no retry, no new read', async () => {
    const { read, pending } = heldReads();
    const r = new ListsRefresh(read);
    r.request();
    await vi.advanceTimersByTimeAsync(LISTS_GATHER_MS);
    pending[0]?.reject(new Error('offline'));
    r.stop();
    await vi.runAllTimersAsync();
    r.request();
    await vi.runAllTimersAsync();
    expect(read).toHaveBeenCalledTimes(1);
  });
});
