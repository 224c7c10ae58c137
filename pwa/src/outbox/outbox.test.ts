// The outbox over a real encrypted IndexedDB store. `send` stands in for POST /send_message:
// it can be switched offline, can lose its answer after storing (the hard case for
// exactly-once), and deduplicates by client_id the way the relay does.
import { describe, expect, it } from 'vitest';
import type { AppErrorCode } from '../state/types.ts';
import { openIdbStorage } from '../storage/idb-storage.ts';
import { ApiError } from '../transport/errors.ts';
import { Outbox } from './outbox.ts';
import type { OutboxItem, StoredMessage } from './records.ts';

function relay() {
  const stored = new Map<string, Uint8Array>();
  const calls: string[] = [];
  const state = { offline: false, loseAnswer: false, rejectFor: null as string | null };
  return {
    stored,
    calls,
    state,
    send: async (item: OutboxItem, wire: Uint8Array) => {
      calls.push(item.id);
      if (state.offline) throw new ApiError(0, 'network', 'network error');
      if (state.rejectFor === item.contact) throw new ApiError(404, 'not_found', 'no such user');
      const prev = stored.get(item.id);
      if (prev && prev.join() !== wire.join()) throw new ApiError(409, 'client_id_reused', 'different body');
      stored.set(item.id, wire);
      if (state.loseAnswer) {
        state.loseAnswer = false;
        throw new ApiError(0, 'network', 'connection reset');
      }
      return { relayId: [...stored.keys()].indexOf(item.id) + 1 };
    },
  };
}

async function setup() {
  const storage = await openIdbStorage(`outbox-${crypto.randomUUID()}`);
  const r = relay();
  const changes: StoredMessage[] = [];
  let encryptions = 0;
  const outbox = new Outbox({
    storage,
    encrypt: async (item, persist) => {
      encryptions += 1;
      const wire = new TextEncoder().encode(`cipher(${item.id})#${encryptions}`);
      await storage.write(persist(wire));
      return wire;
    },
    send: r.send,
    onChange: (m) => changes.push(m),
    classify: (e): AppErrorCode =>
      e instanceof ApiError
        ? e.code === 'network'
          ? 'network'
          : e.status === 404
            ? 'not_found'
            : 'unknown'
        : 'unknown',
  });
  const enqueue = (id: string, contact = 'bob', at = Date.now()) =>
    outbox.enqueue(
      {
        id,
        contact,
        direction: 'out',
        at,
        storedAt: at,
        state: 'queued',
        body: { kind: 'text', text: `text ${id}` },
      },
      { id, contact, chatId: `chat-${contact}`, kind: 'text', createdAt: at, wire: null, failed: null },
    );
  return { storage, r, changes, outbox, enqueue, encryptions: () => encryptions };
}

describe('Outbox', () => {
  it('keeps messages written offline and sends each exactly once when the network returns', async () => {
    const { storage, r, outbox, enqueue } = await setup();
    r.state.offline = true;
    await enqueue('m1', 'bob', 1);
    await enqueue('m2', 'bob', 2);
    await outbox.flush();
    expect(r.stored.size).toBe(0);
    expect((await storage.getMessage<StoredMessage>('m1'))?.state).toBe('queued');
    expect(await outbox.pending()).toHaveLength(2);
    r.state.offline = false;
    await outbox.flush();
    await outbox.flush();
    expect([...r.stored.keys()]).toEqual(['m1', 'm2']);
    expect((await storage.getMessage<StoredMessage>('m2'))?.state).toBe('sent');
    expect(await outbox.pending()).toHaveLength(0);
  });

  it('resends the SAME ciphertext after a lost answer, so the relay stores one copy', async () => {
    const { r, outbox, enqueue, encryptions, storage } = await setup();
    r.state.loseAnswer = true;
    await enqueue('m1');
    await outbox.flush();
    await outbox.flush();
    expect(r.calls).toEqual(['m1', 'm1']);
    expect(encryptions()).toBe(1);
    expect(r.stored.size).toBe(1);
    expect((await storage.getMessage<StoredMessage>('m1'))?.state).toBe('sent');
  });

  it('survives a restart: a new Outbox over the same store sends what was queued', async () => {
    const first = await setup();
    first.r.state.offline = true;
    await first.enqueue('m1');
    await first.outbox.flush();
    const r = relay();
    const again = new Outbox({
      storage: first.storage,
      encrypt: async () => {
        throw new Error('must reuse stored ciphertext or encrypt once');
      },
      send: r.send,
      onChange: () => {},
      classify: () => 'unknown',
    });
    // m1 was encrypted before the send failed, so its ciphertext is stored and is sent as is.
    await again.flush();
    expect([...r.stored.keys()]).toEqual(['m1']);
  });

  it('marks a refused message failed, holds later ones to the same contact, and retries on request', async () => {
    const { r, outbox, enqueue, storage, changes } = await setup();
    r.state.rejectFor = 'alice';
    await enqueue('a1', 'alice', 1);
    await enqueue('b1', 'bob', 2);
    await outbox.flush();
    expect(await storage.getMessage<StoredMessage>('a1')).toMatchObject({
      state: 'failed',
      error: 'not_found',
    });
    await enqueue('a2', 'alice', 3);
    await outbox.flush();
    expect(r.stored.has('a2')).toBe(false); // waits behind the failed a1
    expect(r.stored.has('b1')).toBe(true);
    r.state.rejectFor = null;
    await outbox.retry('a1');
    await outbox.flush();
    expect([...r.stored.keys()].filter((k) => k.startsWith('a'))).toEqual(['a1', 'a2']);
    expect(changes.filter((c) => c.id === 'a1').map((c) => c.state)).toContain('failed');
    expect((await storage.getMessage<StoredMessage>('a1'))?.state).toBe('sent');
  });
});
