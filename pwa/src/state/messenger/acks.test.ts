// Acknowledgement batching (acks.ts): a failed acknowledgement is sent again by itself, and a
// backlog larger than one request goes in several.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { ApiError } from '../../transport/errors.ts';
import { AckBatcher } from './acks.ts';

afterEach(() => {
  vi.useRealTimers();
});

type Call = [number[], string[], number[]];

/** An ack route that fails the first `failing` calls as the network would. */
function route(failing: number) {
  const calls: Call[] = [];
  const ack = async (
    ids: readonly number[],
    photos: readonly string[] = [],
    silent: readonly number[] = [],
  ) => {
    calls.push([[...ids], [...photos], [...silent]]);
    if (calls.length <= failing) throw new ApiError(0, 'network', 'network error');
    return { acked: ids.length + silent.length, photos_acked: photos.length };
  };
  return { calls, ack };
}

describe('AckBatcher', () => {
  it('sends a failed acknowledgement again by itself, backing off while it fails', async () => {
    vi.useFakeTimers();
    const r = route(2);
    // random() = 1: each wait is its whole cap (1 s, then 2 s).
    const acks = new AckBatcher({ ack: r.ack }, () => 1);
    acks.message(41);
    acks.photo('blob-1');
    acks.withoutReceipt(42);
    await vi.advanceTimersByTimeAsync(50);
    expect(r.calls).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(999);
    expect(r.calls).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(r.calls).toHaveLength(2);
    await vi.advanceTimersByTimeAsync(2000);
    // Nothing else was acknowledged meanwhile: the photo's acknowledgement has no other way back.
    expect(r.calls).toEqual([
      [[41], ['blob-1'], [42]],
      [[41], ['blob-1'], [42]],
      [[41], ['blob-1'], [42]],
    ]);
    await vi.advanceTimersByTimeAsync(120_000);
    expect(r.calls).toHaveLength(3);
  });

  it('sends a backlog of more than one request in several, and nothing after stop()', async () => {
    vi.useFakeTimers();
    const r = route(0);
    const acks = new AckBatcher({ ack: r.ack });
    for (let id = 1; id <= 1200; id++) acks.message(id);
    await vi.advanceTimersByTimeAsync(200);
    expect(r.calls.map(([ids]) => ids.length)).toEqual([500, 500, 200]);
    acks.message(5000);
    acks.stop();
    await vi.advanceTimersByTimeAsync(1000);
    expect(r.calls).toHaveLength(3);
  });
});
