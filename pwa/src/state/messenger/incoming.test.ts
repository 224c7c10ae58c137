// The incoming stream's stop at a frame it could not store (incoming.ts): the same frame failing
// on each new socket counts as consecutive failures, so the reconnect backs off more and more;
// a frame that keeps failing for another reason is passed over after MAX_FRAME_ATTEMPTS tries.
import { describe, expect, it } from 'vitest';
import type { StoredMessage } from '../../outbox/records.ts';
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
    onOwnExpired: async () => undefined,
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

describe('IncomingStream and an expired item (spec/openapi.yaml GET /ws)', () => {
  const at = (iso: string) => Date.parse(iso);
  async function expiredStream(cursor = 0) {
    const storage = await openIdbStorage(`incoming-${crypto.randomUUID()}`);
    if (cursor) await storage.put('cursor', cursor);
    const shown: StoredMessage[] = [];
    let own = 0;
    const stream = new IncomingStream({
      storage,
      api: { messages: async () => ({ messages: [] }) } as never,
      username: 'alice',
      sm: {
        knownPeer: (u: string) => (u === 'bob' ? { username: 'bob', chatId: 'chat-bob' } : undefined),
      } as unknown as SessionManager,
      memory: {
        upsert: (m: StoredMessage) => shown.push(m),
        find: (contact: string, pred: (m: StoredMessage) => boolean) =>
          shown.find((m) => m.contact === contact && pred(m)),
      } as unknown as ChatMemory,
      acks: {} as AckBatcher,
      clock: () => 5,
      onIdentityReplaced: async () => undefined,
      onPrekeysLow: async () => undefined,
      onContactsChanged: () => undefined,
      onOwnExpired: async () => {
        own += 1;
      },
      onLocalFailure: () => undefined,
    });
    await stream.load();
    const run = async (frame: Record<string, unknown>) => {
      stream.enqueue({ type: 'expired', ...frame } as ServerFrame);
      await stream.fetchedAll();
    };
    return { stream, storage, shown, own: () => own, run };
  }
  const item = {
    from: 'bob',
    count: 3,
    first_sent_at: '2026-11-01T10:00:00.000Z',
    last_sent_at: '2026-11-02T10:00:00.000Z',
    created_at: '2026-12-02T10:00:00.000Z',
  };

  it('puts one timeline entry in the sender’s chat, stored with the cursor, once', async () => {
    const s = await expiredStream();
    await s.run({ ...item, seq: 4 });
    await s.run({ ...item, seq: 4 }); // the same item again (a reconnect before the cursor moved on)
    const rows = await s.storage.messages<StoredMessage>('chat-bob');
    expect(rows.map((r) => r.value)).toEqual([
      {
        id: expect.stringMatching(/^expired:[0-9a-f-]{36}$/),
        contact: 'bob',
        direction: 'in',
        at: 5,
        storedAt: 5,
        state: 'received',
        body: {
          kind: 'expired',
          count: 3,
          firstSentAt: at(item.first_sent_at),
          lastSentAt: at(item.last_sent_at),
        },
      },
    ]);
    expect(s.shown).toHaveLength(1);
    expect(s.stream.position).toBe(4);
  });

  it('after a restore of the relay’s database (seqs start lower) a new item is still shown, once', async () => {
    const s = await expiredStream(50);
    await s.run({ type: 'ready', cursor: 0 });
    await s.run({ ...item, seq: 3 });
    await s.run({ ...item, seq: 3 });
    await s.run({ ...item, count: 1, seq: 4 }); // another notice, below the old cursor too
    const rows = await s.storage.messages<StoredMessage>('chat-bob');
    expect(rows.map((r) => r.value.body)).toEqual([
      expect.objectContaining({ kind: 'expired', count: 3 }),
      expect.objectContaining({ kind: 'expired', count: 1 }),
    ]);
    expect(new Set(rows.map((r) => r.value.id)).size).toBe(2);
  });

  it('tells the user once for its own sync copies, and opens no chat for a stranger', async () => {
    const s = await expiredStream();
    await s.run({ ...item, from: 'alice', seq: 1 });
    await s.run({ ...item, from: 'mallory', seq: 2 });
    expect(s.own()).toBe(1);
    expect(s.shown).toEqual([]);
    expect(s.stream.position).toBe(2);
  });

  it('passes over an item it cannot read, storing nothing (a relay may send anything)', async () => {
    const s = await expiredStream();
    const bad = [
      { count: 0 },
      { count: 1.5 },
      { count: '3' },
      { from: 7 },
      { first_sent_at: 'yesterday' },
      { last_sent_at: undefined },
      { first_sent_at: item.last_sent_at, last_sent_at: item.first_sent_at },
    ];
    let seq = 0;
    for (const change of bad) await s.run({ ...item, ...change, seq: ++seq });
    expect(await s.storage.messages('chat-bob')).toEqual([]);
    expect(s.shown).toEqual([]);
    expect(s.stream.position).toBe(bad.length);
  });
});
