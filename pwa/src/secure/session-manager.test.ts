// Two devices, each with its own encrypted IndexedDB store and SessionManager, talking
// through crypto-core for real, with their keys published on and fetched from the REAL relay
// (test-relay/global-setup.ts) through the transport layer (RelayApi). Fresh accounts per test.
// @vitest-environment node
import { describe, expect, it } from 'vitest';
import { openIdbStorage } from '../storage/idb-storage.ts';
import type { Storage, WriteOp } from '../storage/storage.ts';
import { type RelayUser, registerOnRelay, signInAgain } from '../test/relay.ts';
import type { RelayApi } from '../transport/api.ts';
import { createAccountKeys } from './account-keys.ts';
import { SecureError } from './errors.ts';
import { KeyedMutex } from './mutex.ts';
import { RECORD } from './records.ts';
import { type DecryptedIncoming, type KeyServer, SessionManager } from './session-manager.ts';

interface Device {
  name: string;
  user: RelayUser;
  api: RelayApi;
  storage: Storage;
  sm: SessionManager;
  /** Bundles this device fetched from the relay. */
  fetches: () => number;
}

/** A device on `api`: creates the account keys in a fresh store and uploads the public halves. */
async function deviceOn(user: RelayUser, api: RelayApi): Promise<Device> {
  const storage = await openIdbStorage(`sm-${user.username}-${crypto.randomUUID()}`);
  let fetches = 0;
  // The real API, counting bundle fetches (each one spends a one-time prekey on the relay).
  const server: KeyServer = {
    bundle: (name) => {
      fetches += 1;
      return api.bundle(name);
    },
    uploadKeys: (keys) => api.uploadKeys(keys),
  };
  await server.uploadKeys(await createAccountKeys(storage, user.username));
  return {
    name: user.username,
    user,
    api,
    storage,
    sm: new SessionManager(storage, server),
    fetches: () => fetches,
  };
}

async function device(prefix: string): Promise<Device> {
  const user = await registerOnRelay(prefix);
  return deviceOn(user, user.api);
}

/** The same account on a new device (a reinstall): signed in again, new identity key uploaded. */
async function reinstall(d: Device): Promise<Device> {
  return deviceOn(d.user, await signInAgain(d.user));
}

/** One-time prekeys the relay holds for this account. */
const stock = async (d: Device) => (await d.api.keyStatus()).one_time_prekeys;

const text = (r: DecryptedIncoming) => new TextDecoder().decode(r.plaintext);
const storeText =
  (id: string) =>
  (r: DecryptedIncoming): WriteOp[] => [
    { kind: 'putMessage', chat: r.peer.chatId, id, value: { text: new TextDecoder().decode(r.plaintext) } },
  ];

describe('SessionManager', () => {
  it('starts a session from a bundle and exchanges messages both ways, storing plaintext with the state', async () => {
    const alice = await device('alice');
    const bob = await device('bob');
    await alice.sm.addPeer(bob.name);
    const first = await alice.sm.encryptText(bob.name, 'hello bob 👋');
    const got = await bob.sm.decrypt(alice.name, first, storeText('m1'));
    expect(text(got)).toBe('hello bob 👋');
    expect(got.keyChanged).toBe(false);
    expect(await bob.storage.getMessage('m1')).toEqual({ text: 'hello bob 👋' });
    // The one-time prekey the initial message used is gone from Bob's device.
    expect((await bob.storage.list(RECORD.oneTimePreKeyPrefix)).length).toBe(99);
    for (let i = 0; i < 6; i++) {
      const [from, to] = i % 2 === 0 ? [bob, alice] : [alice, bob];
      const wire = await from.sm.encryptText(to.name, `msg ${i}`);
      expect(text(await to.sm.decrypt(from.name, wire, () => []))).toBe(`msg ${i}`);
    }
    expect(alice.fetches()).toBe(1);
    expect(bob.fetches()).toBe(0);
    // The relay handed that prekey out once: 100 uploaded, 99 left.
    expect(await stock(bob)).toBe(99);
  });

  it('converges when both sides start a session at the same time', async () => {
    const alice = await device('alice');
    const bob = await device('bob');
    await alice.sm.addPeer(bob.name);
    await bob.sm.addPeer(alice.name);
    const a1 = await alice.sm.encryptText(bob.name, 'a1');
    const b1 = await bob.sm.encryptText(alice.name, 'b1');
    expect(text(await bob.sm.decrypt(alice.name, a1, () => []))).toBe('a1');
    expect(text(await alice.sm.decrypt(bob.name, b1, () => []))).toBe('b1');
    for (let i = 0; i < 4; i++) {
      const a = await alice.sm.encryptText(bob.name, `a${i}`);
      expect(text(await bob.sm.decrypt(alice.name, a, () => []))).toBe(`a${i}`);
      const b = await bob.sm.encryptText(alice.name, `b${i}`);
      expect(text(await alice.sm.decrypt(bob.name, b, () => []))).toBe(`b${i}`);
    }
  });

  it('serialises concurrent sends of one conversation: every message opens, none reuses a key', async () => {
    const alice = await device('alice');
    const bob = await device('bob');
    await alice.sm.addPeer(bob.name);
    const wires = await Promise.all(
      Array.from({ length: 8 }, (_, i) => alice.sm.encryptText(bob.name, `p${i}`)),
    );
    const opened: string[] = [];
    for (const w of wires) opened.push(text(await bob.sm.decrypt(alice.name, w, () => [])));
    expect(opened.sort()).toEqual(Array.from({ length: 8 }, (_, i) => `p${i}`).sort());
  });

  it('does not advance the ratchet when storing the plaintext fails, so the message can be retried', async () => {
    const alice = await device('alice');
    const bob = await device('bob');
    await alice.sm.addPeer(bob.name);
    await bob.storage.putMessage('other-chat', 'taken', { x: 1 });
    const wire = await alice.sm.encryptText(bob.name, 'retry me');
    const clash = (r: DecryptedIncoming): WriteOp[] => [
      { kind: 'putMessage', chat: r.peer.chatId, id: 'taken', value: { text: 'retry me' } },
    ];
    await expect(bob.sm.decrypt(alice.name, wire, clash)).rejects.toThrow(RangeError);
    const again = await bob.sm.decrypt(alice.name, wire, storeText('ok'));
    expect(text(again)).toBe('retry me');
    // A second delivery of the same bytes is now a duplicate and is refused.
    await expect(bob.sm.decrypt(alice.name, wire, () => [])).rejects.toMatchObject({ code: 'duplicate' });
  });

  it('flags a changed identity key, blocks sending until acknowledged, then talks to the new key', async () => {
    const alice = await device('alice');
    const bob = await device('bob');
    await alice.sm.addPeer(bob.name);
    await bob.sm.decrypt(alice.name, await alice.sm.encryptText(bob.name, 'before'), () => []);
    await alice.sm.setVerified(bob.name, true);
    // Bob reinstalls: a new device with a new identity key under the same name.
    const bob2 = await reinstall(bob);
    const checked = await alice.sm.checkIdentity(bob.name);
    expect(checked).toMatchObject({ keyChanged: true, verified: false });
    await expect(alice.sm.encryptText(bob.name, 'blocked')).rejects.toMatchObject({
      code: 'key_change_unacknowledged',
    });
    await expect(alice.sm.setVerified(bob.name, true)).resolves.toMatchObject({ verified: false });
    const acked = await alice.sm.acknowledgeKeyChange(bob.name);
    expect(acked).toMatchObject({ keyChanged: false, verified: false, pendingIdentityKey: null });
    const wire = await alice.sm.encryptText(bob.name, 'after');
    expect(text(await bob2.sm.decrypt(alice.name, wire, () => []))).toBe('after');
  });

  it('marks an incoming session from a new identity key as a key change', async () => {
    const alice = await device('alice');
    const bob = await device('bob');
    await bob.sm.addPeer(alice.name);
    await alice.sm.addPeer(bob.name);
    await bob.sm.decrypt(alice.name, await alice.sm.encryptText(bob.name, 'one'), () => []);
    const alice2 = await reinstall(alice);
    await alice2.sm.addPeer(bob.name);
    const r = await bob.sm.decrypt(alice.name, await alice2.sm.encryptText(bob.name, 'new phone'), () => []);
    expect(text(r)).toBe('new phone');
    expect(r.keyChanged).toBe(true);
    expect(await bob.sm.peer(alice.name)).toMatchObject({ keyChanged: true });
    await expect(bob.sm.encryptText(alice.name, 'x')).rejects.toBeInstanceOf(SecureError);
  });

  it('rejects garbage and ratchet messages without a session', async () => {
    const bob = await device('bob');
    await expect(bob.sm.decrypt('eve', new Uint8Array([1, 2, 3]), () => [])).rejects.toBeInstanceOf(
      SecureError,
    );
    await expect(bob.sm.decrypt('eve', new Uint8Array([]), () => [])).rejects.toBeInstanceOf(SecureError);
    const alice = await device('alice');
    const carol = await device('carol');
    await alice.sm.addPeer(carol.name);
    await carol.sm.decrypt(alice.name, await alice.sm.encryptText(carol.name, 'x'), () => []);
    const ratchet = await carol.sm.encryptText(alice.name, 'y');
    await alice.sm.decrypt(carol.name, ratchet, () => []);
    const later = await alice.sm.encryptText(carol.name, 'z'); // a ratchet message now
    await expect(bob.sm.decrypt(alice.name, later, () => [])).rejects.toMatchObject({ code: 'no_session' });
  });

  it('tops up one-time prekeys with fresh ids', async () => {
    const bob = await device('bob');
    expect(await stock(bob)).toBe(100);
    await bob.sm.topUpPrekeys();
    expect(await stock(bob)).toBe(200);
    const ids = (await bob.storage.list<{ id: number }>(RECORD.oneTimePreKeyPrefix)).map((r) => r.value.id);
    expect(new Set(ids).size).toBe(200);
    expect(Math.max(...ids)).toBe(200);
  });
});

describe('KeyedMutex', () => {
  it('runs tasks of one key in order and of different keys concurrently', async () => {
    const m = new KeyedMutex();
    const log: string[] = [];
    // a1 holds key a until b1 (another key) has started: that can only happen if b runs while a
    // is held (a mutex serialising every key would never let this test finish); no timing.
    let releaseA1 = () => {};
    const a1Held = new Promise<void>((r) => {
      releaseA1 = r;
    });
    const task = (key: string, name: string, body: () => Promise<void> | void = () => {}) =>
      m.run(key, async () => {
        log.push(`start ${name}`);
        await body();
        log.push(`end ${name}`);
      });
    await Promise.all([task('a', 'a1', () => a1Held), task('a', 'a2'), task('b', 'b1', releaseA1)]);
    expect(log.indexOf('end a1')).toBeLessThan(log.indexOf('start a2'));
    expect(log.indexOf('start b1')).toBeLessThan(log.indexOf('end a1'));
  });

  it('keeps going after a failed task', async () => {
    const m = new KeyedMutex();
    await expect(m.run('k', async () => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    await expect(m.run('k', async () => 42)).resolves.toBe(42);
  });
});
