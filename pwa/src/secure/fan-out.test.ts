// Sessions per (peer, device) and the Sesame fan-out of SessionManager (spec/protocol.md §16)
// between real SessionManagers over real encrypted IndexedDB stores and crypto-core, with
// bundles read from each device's own store by an in-process key directory (the relay's GET
// /keys/{username}?device_ids= answer, without its one-time prekeys). The same paths against
// the real relay: state/messenger.test.ts "linked devices".
// @vitest-environment node
import type { IdentityKeyPair } from '@secure-drop/crypto-core/identity';
import { describe, expect, it } from 'vitest';
import { openIdbStorage } from '../storage/idb-storage.ts';
import type { Storage, WriteOp } from '../storage/storage.ts';
import type { DeviceBundle, DeviceBundles } from '../transport/api.ts';
import {
  createAccountKeys,
  loadPqPreKey,
  loadPrekeyState,
  loadSignedPreKey,
  requireIdentity,
} from './account-keys.ts';
import { encodeSyncBody, sealOn, startSession } from './device-crypto.ts';
import { SecureError } from './errors.ts';
import { RECORD } from './records.ts';
import { type DecryptedIncoming, type KeyServer, prekeyBundleOf, SessionManager } from './session-manager.ts';

interface Dev {
  readonly user: string;
  readonly id: number;
  readonly storage: Storage;
  readonly sm: SessionManager;
}

/** The relay's device lists and bundles, read from the devices' own stores. */
class Directory implements KeyServer {
  readonly devices = new Map<string, Dev[]>();
  readonly fetches: [string, number[] | undefined][] = [];

  async bundles(username: string, deviceIds?: readonly number[]): Promise<DeviceBundles> {
    this.fetches.push([username, deviceIds ? [...deviceIds] : undefined]);
    const all = this.devices.get(username) ?? [];
    const chosen = all.filter((d) => !deviceIds || deviceIds.includes(d.id));
    const identityKey = (await requireIdentity((all[0] as Dev).storage)).publicKey;
    const devices: DeviceBundle[] = [];
    for (const d of chosen) {
      const state = await loadPrekeyState(d.storage);
      const spk = await loadSignedPreKey(d.storage, state.signedPreKeyId);
      const pq = await loadPqPreKey(d.storage, state.pqPreKeyId);
      if (!spk || !pq) throw new Error('no prekeys');
      devices.push({
        username,
        deviceId: d.id,
        identityKey,
        signedPreKey: { id: spk.id, publicKey: spk.publicKey, signature: spk.signature },
        pqPreKey: { kind: 'last_resort', id: pq.id, publicKey: pq.publicKey, signature: pq.signature },
      });
    }
    return { username, identityKey, devices };
  }

  async identity(username: string) {
    const all = this.devices.get(username) ?? [];
    const identityKey = (await requireIdentity((all[0] as Dev).storage)).publicKey;
    const devices = all.map((d) => ({ deviceId: d.id, signedPreKeyId: 1, pqPreKeyId: 1 }));
    return {
      username,
      identityKey,
      signedPreKeyId: 1,
      pqPreKeyId: 1,
      deviceIds: all.map((d) => d.id),
      devices,
    };
  }

  async uploadKeys() {
    return { deviceId: null };
  }

  /** A device of `user`: the account's identity when it has one already (a linked device). */
  async device(user: string, identity?: IdentityKeyPair): Promise<Dev> {
    const list = this.devices.get(user) ?? [];
    const id = list.length + 1;
    const storage = await openIdbStorage(`fan-${user}-${crypto.randomUUID()}`);
    await createAccountKeys(
      storage,
      user,
      Date.now(),
      identity ?? (list[0] ? await requireIdentity(list[0].storage) : undefined),
    );
    await storage.put(RECORD.deviceId, id);
    const dev = { user, id, storage, sm: new SessionManager(storage, this) };
    this.devices.set(user, [...list, dev]);
    return dev;
  }
}

const enc = (t: string) => new TextEncoder().encode(t);
const dec = (b: Uint8Array) => new TextDecoder().decode(b);
const storeNothing = (): WriteOp[] => [];

async function accounts() {
  const dir = new Directory();
  const a1 = await dir.device('alice');
  const a2 = await dir.device('alice');
  const b1 = await dir.device('bob');
  const b2 = await dir.device('bob');
  await a1.sm.addPeer('bob');
  await a1.sm.setOwnDevices([1, 2]);
  return { dir, a1, a2, b1, b2 };
}

describe('fan-out over sessions per (peer, device)', () => {
  it('seals one message for 2 recipient devices and 1 own device: each opens its copy, the own one as a sync of the chat with bob', async () => {
    const { dir, a1, a2, b1, b2 } = await accounts();
    const sealed = await a1.sm.sealFanOut('bob', { contentType: 'text', body: enc('hello') }, storeNothing, {
      sentAt: 1000,
    });
    expect(sealed.recipient.map((c) => c.deviceId)).toEqual([1, 2]);
    expect(sealed.own.map((c) => c.deviceId)).toEqual([2]);
    expect(dir.fetches).toEqual([
      ['bob', undefined],
      ['alice', [2]],
    ]);
    for (const [dev, copy] of [
      [b1, sealed.recipient[0]],
      [b2, sealed.recipient[1]],
    ] as const) {
      const r = await dev.sm.decrypt('alice', copy?.body as Uint8Array, storeNothing, 1);
      expect([dec(r.body), r.contentType, r.order, r.sentAt, r.synced, r.peer.username]).toEqual([
        'hello',
        'text',
        1,
        1000,
        undefined,
        'alice',
      ]);
    }
    const own = await a2.sm.decrypt('alice', sealed.own[0]?.body as Uint8Array, storeNothing, 1);
    expect([dec(own.body), own.contentType, own.synced, own.peer.username, own.order]).toEqual([
      'hello',
      'text',
      true,
      'bob',
      1,
    ]);
    // The chat with bob exists on alice's other device as a contact, never a request.
    expect((await a2.sm.peer('bob'))?.request).toBeUndefined();
    // The next message reuses every session: no bundle fetched.
    await a1.sm.sealFanOut('bob', { contentType: 'text', body: enc('again') });
    expect(dir.fetches).toHaveLength(2);
    // bob's reply from his device 2 reaches alice 1 on its own session, and bob 1 as a sync.
    await b2.sm.setOwnDevices([1, 2]);
    const reply = await b2.sm.sealFanOut('alice', { contentType: 'text', body: enc('hi') });
    // Bob's device 2 knows only the alice device that wrote to it: the relay's 409 would name
    // the other (the previous test).
    expect(reply.recipient.map((c) => c.deviceId)).toEqual([1]);
    const got = await a1.sm.decrypt('bob', reply.recipient[0]?.body as Uint8Array, storeNothing, 2);
    expect(dec(got.body)).toBe('hi');
    expect((await a1.sm.peer('bob'))?.devices).toEqual([1, 2]);
    const synced = await b1.sm.decrypt('bob', reply.own[0]?.body as Uint8Array, storeNothing, 2);
    expect([synced.synced, synced.peer.username]).toEqual([true, 'alice']);
  });

  it('attack/race: a device added after the sealing (409 stale_devices) — bundles for it only, the other copies kept byte for byte', async () => {
    const { dir, a1, b1 } = await accounts();
    const first = await a1.sm.sealFanOut('bob', { contentType: 'text', body: enc('x') });
    const b3 = await dir.device('bob');
    dir.fetches.length = 0;
    const resealed = await a1.sm.resealFanOut('bob', first, { recipient: [1, 2, 3], own: [1, 2] });
    expect(dir.fetches).toEqual([['bob', [3]]]);
    expect(resealed.recipient.map((c) => c.deviceId)).toEqual([1, 2, 3]);
    expect(resealed.recipient[0]?.body).toEqual(first.recipient[0]?.body);
    expect(resealed.recipient[1]?.body).toEqual(first.recipient[1]?.body);
    expect(resealed.own).toEqual(first.own); // our own device 1 (this one) is never sealed for
    expect([resealed.sentAt, resealed.order]).toEqual([first.sentAt, first.order]);
    const r3 = await b3.sm.decrypt('alice', resealed.recipient[2]?.body as Uint8Array, storeNothing, 1);
    const r1 = await b1.sm.decrypt('alice', resealed.recipient[0]?.body as Uint8Array, storeNothing, 1);
    expect([dec(r3.body), r3.order, dec(r1.body), r1.order]).toEqual(['x', first.order, 'x', first.order]);
    expect((await a1.sm.peer('bob'))?.devices).toEqual([1, 2, 3]);
  });

  it('a removed device gets nothing further from the stale answer on; its sessions stay for receiving', async () => {
    const { a1 } = await accounts();
    const first = await a1.sm.sealFanOut('bob', { contentType: 'text', body: enc('x') });
    const chat = (await a1.sm.peer('bob'))?.chatId as string;
    expect(await a1.storage.get(RECORD.session(chat, 2))).toBeDefined();
    expect(await a1.storage.get(RECORD.ownSession(2))).toBeDefined();
    const resealed = await a1.sm.resealFanOut('bob', first, { recipient: [1], own: [] });
    expect(resealed.recipient.map((c) => c.deviceId)).toEqual([1]);
    expect(resealed.own).toEqual([]);
    // Kept to open what the removed devices sent before their removal (spec/protocol.md §16.9).
    expect(await a1.storage.get(RECORD.session(chat, 2))).toBeDefined();
    expect(await a1.storage.get(RECORD.ownSession(2))).toBeDefined();
    const next = await a1.sm.sealFanOut('bob', { contentType: 'text', body: enc('y') });
    expect([next.recipient.map((c) => c.deviceId), next.own]).toEqual([[1], []]);
  });

  it('what a device sent before its removal still opens after the stale answer (a repeated initial message is not a replay)', async () => {
    const { a1, b2 } = await accounts();
    await b2.sm.addPeer('alice');
    // bob's device 2 writes twice before hearing back: both are initial messages of one session.
    const m1 = await b2.sm.sealFanOut('alice', { contentType: 'text', body: enc('one') });
    const m2 = await b2.sm.sealFanOut('alice', { contentType: 'text', body: enc('two') });
    const toA1 = (s: typeof m1) => s.recipient.find((c) => c.deviceId === 1)?.body as Uint8Array;
    expect(dec((await a1.sm.decrypt('bob', toA1(m1), storeNothing, 2)).body)).toBe('one');
    // bob unlinks device 2; alice's next send meets the stale list and stops encrypting to it.
    const first = await a1.sm.sealFanOut('bob', { contentType: 'text', body: enc('x') });
    await a1.sm.resealFanOut('bob', first, { recipient: [1], own: [2] });
    // Its second message, sent before the unlink, reaches alice only now.
    expect(dec((await a1.sm.decrypt('bob', toA1(m2), storeNothing, 2)).body)).toBe('two');
  });

  it('numbers the next message after the orders synced from the other device (order across devices)', async () => {
    const { a1, a2 } = await accounts();
    let last = null;
    for (const t of ['1', '2', '3'])
      last = await a1.sm.sealFanOut('bob', { contentType: 'text', body: enc(t) });
    // Only the last sync copy reaches device 2 (the others are still on the way).
    const synced = await a2.sm.decrypt('alice', last?.own[0]?.body as Uint8Array, storeNothing, 1);
    expect(synced.order).toBe(3);
    const mine = await a2.sm.sealFanOut('bob', { contentType: 'text', body: enc('4') });
    expect(mine.order).toBe(4);
  });

  it('refuses a sync copy from another account and a message "from us" sealed by someone else', async () => {
    const { dir, a1 } = await accounts();
    const mallory = await dir.device('mallory');
    const bundle = (await dir.bundles('alice', [1])).devices[0] as DeviceBundle;
    const session = startSession(
      await requireIdentity(mallory.storage),
      prekeyBundleOf(bundle),
      {
        initiator: 'mallory',
        responder: 'alice',
      },
      false,
    );
    // crypto-core will not seal a sync copy on a session with another account…
    await expect(
      sealOn(session, 'sync', {
        body: encodeSyncBody({ peer: 'bob', contentType: 'text', body: enc('forged') }),
        sentAt: 1,
        order: 1,
      }),
    ).rejects.toMatchObject({ code: 'CONTENT_NOT_ALLOWED' });
    // …and a text of mallory's that the relay labels as alice's own is not a sync copy of ours.
    const { message } = await sealOn(session, 'text', { body: enc('forged'), sentAt: 1, order: 1 });
    const stored: DecryptedIncoming[] = [];
    const err = await a1.sm
      .decrypt(
        'alice',
        message,
        (r) => {
          stored.push(r);
          return [];
        },
        3,
      )
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SecureError);
    expect(stored).toEqual([]);
    expect((await a1.sm.peers()).map((p) => p.username)).toEqual(['bob']);
  });

  it('a store from before linked devices: its sessions (under the chat alone) are device 1’s, used without a fetch', async () => {
    const { dir, a1, b1 } = await accounts();
    await a1.sm.setOwnDevices([]);
    dir.devices.set('bob', [b1]);
    await a1.sm.sealFanOut('bob', { contentType: 'text', body: enc('x') });
    const peer = await a1.sm.peer('bob');
    if (!peer) throw new Error('no peer');
    // Rewrite the store as the version before devices kept it.
    const sessions = await a1.storage.get(RECORD.session(peer.chatId, 1));
    const { devices: _d, ...old } = peer;
    await a1.storage.write([
      { kind: 'delete', key: RECORD.session(peer.chatId, 1) },
      { kind: 'put', key: RECORD.session(peer.chatId), value: sessions },
      { kind: 'put', key: RECORD.peer(peer.chatId), value: old },
    ]);
    const fresh = new SessionManager(a1.storage, dir);
    dir.fetches.length = 0;
    const next = await fresh.sealFanOut('bob', { contentType: 'text', body: enc('y') });
    expect(dir.fetches).toEqual([]);
    expect(next.recipient.map((c) => c.deviceId)).toEqual([1]);
    expect(await a1.storage.get(RECORD.session(peer.chatId))).toBeUndefined();
    expect(
      dec((await b1.sm.decrypt('alice', next.recipient[0]?.body as Uint8Array, storeNothing)).body),
    ).toBe('y');
  });
});
