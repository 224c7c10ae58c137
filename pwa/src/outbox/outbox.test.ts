// The outbox over a real encrypted IndexedDB store, sending through the transport layer to the
// REAL relay (test-relay/global-setup.ts), which deduplicates by client_id. What arrived is
// read back from each recipient's mailbox (GET /get_messages). "Offline" is a real refused
// connection (a RelayApi aimed at a closed port); a "lost answer" is the real send completing
// on the relay and the reply then being dropped before the outbox sees it — the hard case for
// exactly-once, which no real network produces on demand.
// @vitest-environment node
import { describe, expect, it } from 'vitest';
import type { AppErrorCode } from '../state/types.ts';
import { openIdbStorage } from '../storage/idb-storage.ts';
import {
  freshName,
  type RelayUser,
  registerNamed,
  registerWithDevice,
  toDevice1,
  withDevice,
} from '../test/relay.ts';
import { RelayApi } from '../transport/api.ts';
import { ApiError } from '../transport/errors.ts';
import { Outbox } from './outbox.ts';
import type { OutboxItem, SealedWire, StoredMessage } from './records.ts';

/** Client ids (from the test ciphertext `cipher(<id>)#n`) in `user`'s mailbox, in relay order. */
async function mailbox(user: RelayUser): Promise<string[]> {
  const page = await user.api.messages(0, 100);
  return page.messages.map((m) => /^cipher\((.+)\)#/.exec(new TextDecoder().decode(m.body))?.[1] ?? '?');
}

function relay(sender: RelayUser) {
  const calls: string[] = [];
  const state = { offline: false, loseAnswer: false };
  // Nothing listens on port 1: every request fails to connect, as with no network.
  const unreachable = new RelayApi({ baseUrl: 'http://127.0.0.1:1' });
  return {
    calls,
    state,
    send: async (item: OutboxItem, sealed: SealedWire) => {
      const wire = sealed as Uint8Array;
      calls.push(item.id);
      if (state.offline) {
        unreachable.http.setTokens({ accessToken: sender.api.http.accessToken ?? '', refreshToken: '' });
        await unreachable.sendMessage(item.contact, item.id, toDevice1(wire));
        throw new Error('unreachable relay answered');
      }
      const res = await sender.api.sendMessage(item.contact, item.id, toDevice1(wire));
      if (state.loseAnswer) {
        state.loseAnswer = false;
        throw new ApiError(0, 'network', 'connection reset');
      }
      return { relayId: res.id };
    },
  };
}

async function setup() {
  const name = `outbox-${crypto.randomUUID()}`;
  const storage = await openIdbStorage(name);
  const sender = await registerWithDevice('obx');
  const bob = await registerWithDevice('bob');
  const r = relay(sender);
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
  const enqueue = (id: string, contact = bob.username, at = Date.now()) =>
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
  return { name, storage, sender, bob, r, changes, outbox, enqueue, encryptions: () => encryptions };
}

describe('Outbox', () => {
  it('keeps messages written offline and sends each exactly once when the network returns', async () => {
    const { storage, bob, r, outbox, enqueue } = await setup();
    r.state.offline = true;
    await enqueue('m1', bob.username, 1);
    await enqueue('m2', bob.username, 2);
    await outbox.flush();
    expect(await mailbox(bob)).toEqual([]);
    expect((await storage.getMessage<StoredMessage>('m1'))?.state).toBe('queued');
    expect(await outbox.pending()).toHaveLength(2);
    r.state.offline = false;
    await outbox.flush();
    await outbox.flush();
    expect(await mailbox(bob)).toEqual(['m1', 'm2']);
    expect((await storage.getMessage<StoredMessage>('m2'))?.state).toBe('sent');
    expect(await outbox.pending()).toHaveLength(0);
  });

  it('resends the SAME ciphertext after a lost answer, so the relay stores one copy', async () => {
    const { r, bob, outbox, enqueue, encryptions, storage } = await setup();
    r.state.loseAnswer = true;
    await enqueue('m1');
    await outbox.flush();
    await outbox.flush();
    expect(r.calls).toEqual(['m1', 'm1']);
    expect(encryptions()).toBe(1);
    expect(await mailbox(bob)).toEqual(['m1']);
    expect((await storage.getMessage<StoredMessage>('m1'))?.state).toBe('sent');
  });

  it('survives a restart: a new Outbox over the same store sends what was queued', async () => {
    const first = await setup();
    first.r.state.offline = true;
    await first.enqueue('m1');
    await first.outbox.flush();
    const r = relay(first.sender);
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
    expect(r.calls).toEqual(['m1']);
    expect(await mailbox(first.bob)).toEqual(['m1']);
  });

  it('marks a refused message failed, holds later ones to the same contact, and retries on request', async () => {
    const { bob, outbox, enqueue, storage, changes } = await setup();
    // A name with no account yet: the relay refuses (404) until it is registered below.
    const aliceName = freshName('alice');
    await enqueue('a1', aliceName, 1);
    await enqueue('b1', bob.username, 2);
    await outbox.flush();
    expect(await storage.getMessage<StoredMessage>('a1')).toMatchObject({
      state: 'failed',
      error: 'not_found',
    });
    // The name exists from now on, so a2 WOULD be accepted if the outbox sent it.
    const alice = await withDevice(await registerNamed(aliceName));
    await enqueue('a2', aliceName, 3);
    await outbox.flush();
    expect(await mailbox(alice)).not.toContain('a2'); // waits behind the failed a1
    expect(await mailbox(bob)).toContain('b1');
    await outbox.retry('a1');
    await outbox.flush();
    expect((await mailbox(alice)).filter((k) => k.startsWith('a'))).toEqual(['a1', 'a2']);
    expect(changes.filter((c) => c.id === 'a1').map((c) => c.state)).toContain('failed');
    expect((await storage.getMessage<StoredMessage>('a1'))?.state).toBe('sent');
  });

  it('a message already delivered whose resend is refused leaves the outbox: nothing is held behind it', async () => {
    const { outbox, enqueue, storage, r } = await setup();
    // Its receipt came before the resend's answer (the first answer lost); the resend is then
    // refused (here: the account is gone, 404). A delivered message shows no retry, so a failed
    // outbox item would have held every later message to this contact for good.
    const gone = freshName('gone');
    r.state.offline = true;
    await enqueue('d1', gone, 1);
    await outbox.flush();
    r.state.offline = false;
    const m = await storage.getMessage<StoredMessage>('d1');
    if (!m) throw new Error('not stored');
    await storage.write([
      { kind: 'putMessage', chat: `chat-${gone}`, id: 'd1', value: { ...m, state: 'delivered' } },
    ]);
    await outbox.flush();
    expect(await outbox.pending()).toEqual([]);
    expect(await storage.getMessage<StoredMessage>('d1')).toMatchObject({ state: 'delivered' });
  });

  it('stops quietly when the store is locked mid-send (log out) and sends once after unlocking', async () => {
    const { name, storage, bob, r, outbox, enqueue } = await setup();
    await enqueue('m1');
    const flushing = outbox.flush();
    storage.lock();
    await expect(flushing).resolves.toBeUndefined();
    expect(r.calls.length).toBeLessThanOrEqual(1);
    const reopened = await openIdbStorage(name);
    const again = new Outbox({
      storage: reopened,
      encrypt: async (_item, persist) => {
        const wire = new TextEncoder().encode('cipher(m1)#2');
        await reopened.write(persist(wire));
        return wire;
      },
      send: r.send,
      onChange: () => {},
      classify: () => 'unknown',
    });
    await again.flush();
    expect(await mailbox(bob)).toEqual(['m1']);
    expect((await reopened.getMessage<StoredMessage>('m1'))?.state).toBe('sent');
  });
});
