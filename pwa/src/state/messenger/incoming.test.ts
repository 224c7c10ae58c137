// The incoming stream's stop at a frame it could not store (incoming.ts): the same frame failing
// on each new socket counts as consecutive failures, so the reconnect backs off more and more;
// a frame that keeps failing for another reason is passed over after MAX_FRAME_ATTEMPTS tries.
import { describe, expect, it } from 'vitest';
import type { SessionManager } from '../../secure/session-manager.ts';
import { openIdbStorage } from '../../storage/idb-storage.ts';
import type { ServerFrame } from '../../transport/ws.ts';
import type { AckBatcher } from './acks.ts';
import type { ChatMemory } from './chat-memory.ts';
import { IncomingStream, MAX_FRAME_ATTEMPTS } from './incoming.ts';

/** A stream over a real store whose decryption always fails with `error`. */
async function failingStream(error: () => Error) {
  const failures: number[] = [];
  const storage = await openIdbStorage(`incoming-${crypto.randomUUID()}`);
  const stream = new IncomingStream({
    storage,
    api: {} as never,
    username: 'alice',
    sm: {
      decrypt: async () => {
        throw error();
      },
      knownPeer: () => undefined,
    } as unknown as SessionManager,
    memory: {} as ChatMemory,
    acks: { message() {}, withoutReceipt() {} } as unknown as AckBatcher,
    clock: () => 0,
    onIdentityReplaced: async () => undefined,
    onPrekeysLow: async () => undefined,
    onContactsChanged: () => undefined,
    onLocalFailure: (n) => failures.push(n),
  });
  await stream.load();
  return { stream, failures };
}

const ready = { type: 'ready' } as unknown as ServerFrame;
const message = { type: 'message', seq: 1, id: 7, from: 'bob', from_device: 1, body: 'AAAA' } as ServerFrame;

/** One socket's life: its ready frame, then the message; resolves once both were handled. */
async function socket(stream: IncomingStream): Promise<void> {
  stream.enqueue(ready);
  stream.enqueue(message);
  await stream.fetchedAll().catch(() => undefined);
}

describe('IncomingStream at a frame it cannot store', () => {
  it('counts the same frame failing on each new socket as consecutive failures (the backoff grows)', async () => {
    const { stream, failures } = await failingStream(
      () => new DOMException('quota exceeded', 'QuotaExceededError'),
    );
    for (let i = 0; i < MAX_FRAME_ATTEMPTS + 2; i++) await socket(stream);
    // A store failure is never passed over: the frame comes again until it is stored.
    expect(failures).toEqual([1, 2, 3, 4, 5, 6, 7]);
    expect(stream.position).toBe(0);
  });

  it('passes a frame over, unacknowledged, after MAX_FRAME_ATTEMPTS failures of another kind', async () => {
    const { stream, failures } = await failingStream(() => new TypeError('fetch failed'));
    for (let i = 0; i < MAX_FRAME_ATTEMPTS; i++) await socket(stream);
    expect(failures).toEqual([1, 2, 3, 4]);
    expect(stream.position).toBe(1);
  });
});
