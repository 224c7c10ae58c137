// Two devices, each with its own encrypted IndexedDB store and SessionManager, talking
// through crypto-core for real. The key directory below stands in for the relay's /keys
// routes (the relay treats keys as opaque bytes: it stores uploads and hands out each
// one-time prekey once); the real relay is exercised by the e2e suite.
import { beforeEach, describe, expect, it } from 'vitest';
import { openIdbStorage } from '../storage/idb-storage.ts';
import type { Storage, WriteOp } from '../storage/storage.ts';
import type { Bundle, KeysUpload } from '../transport/api.ts';
import { createAccountKeys } from './account-keys.ts';
import { SecureError } from './errors.ts';
import { KeyedMutex } from './mutex.ts';
import { RECORD } from './records.ts';
import { type DecryptedIncoming, type KeyServer, SessionManager } from './session-manager.ts';

class KeyDirectory {
  private readonly users = new Map<
    string,
    { base: Omit<Bundle, 'oneTimePreKey' | 'username'>; opks: { id: number; publicKey: Uint8Array }[] }
  >();
  fetches = 0;

  serverFor(username: string): KeyServer {
    return {
      bundle: async (name) => {
        this.fetches += 1;
        const u = this.users.get(name);
        if (!u) throw new Error('no bundle');
        const opk = u.opks.shift();
        return opk ? { username: name, ...u.base, oneTimePreKey: opk } : { username: name, ...u.base };
      },
      uploadKeys: async (keys: KeysUpload) => {
        const existing = this.users.get(username);
        if (keys.identityKey && keys.signedPreKey && keys.pqPreKey) {
          this.users.set(username, {
            base: { identityKey: keys.identityKey, signedPreKey: keys.signedPreKey, pqPreKey: keys.pqPreKey },
            opks: [...(keys.oneTimePreKeys ?? [])],
          });
        } else if (existing) existing.opks.push(...(keys.oneTimePreKeys ?? []));
        return { prekeys_low: false };
      },
    };
  }

  stock(username: string): number {
    return this.users.get(username)?.opks.length ?? 0;
  }
}

interface Device {
  name: string;
  storage: Storage;
  sm: SessionManager;
}

let directory: KeyDirectory;
beforeEach(() => {
  directory = new KeyDirectory();
});

async function device(name: string): Promise<Device> {
  const storage = await openIdbStorage(`sm-${name}-${crypto.randomUUID()}`);
  const server = directory.serverFor(name);
  await server.uploadKeys(await createAccountKeys(storage, name));
  return { name, storage, sm: new SessionManager(storage, server) };
}

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
    await alice.sm.addPeer('bob');
    const first = await alice.sm.encryptText('bob', 'hello bob 👋');
    const got = await bob.sm.decrypt('alice', first, storeText('m1'));
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
    expect(directory.fetches).toBe(1);
  });

  it('converges when both sides start a session at the same time', async () => {
    const alice = await device('alice');
    const bob = await device('bob');
    await alice.sm.addPeer('bob');
    await bob.sm.addPeer('alice');
    const a1 = await alice.sm.encryptText('bob', 'a1');
    const b1 = await bob.sm.encryptText('alice', 'b1');
    expect(text(await bob.sm.decrypt('alice', a1, () => []))).toBe('a1');
    expect(text(await alice.sm.decrypt('bob', b1, () => []))).toBe('b1');
    for (let i = 0; i < 4; i++) {
      const a = await alice.sm.encryptText('bob', `a${i}`);
      expect(text(await bob.sm.decrypt('alice', a, () => []))).toBe(`a${i}`);
      const b = await bob.sm.encryptText('alice', `b${i}`);
      expect(text(await alice.sm.decrypt('bob', b, () => []))).toBe(`b${i}`);
    }
  });

  it('serialises concurrent sends of one conversation: every message opens, none reuses a key', async () => {
    const alice = await device('alice');
    const bob = await device('bob');
    await alice.sm.addPeer('bob');
    const wires = await Promise.all(
      Array.from({ length: 8 }, (_, i) => alice.sm.encryptText('bob', `p${i}`)),
    );
    const opened: string[] = [];
    for (const w of wires) opened.push(text(await bob.sm.decrypt('alice', w, () => [])));
    expect(opened.sort()).toEqual(Array.from({ length: 8 }, (_, i) => `p${i}`).sort());
  });

  it('does not advance the ratchet when storing the plaintext fails, so the message can be retried', async () => {
    const alice = await device('alice');
    const bob = await device('bob');
    await alice.sm.addPeer('bob');
    await bob.storage.putMessage('other-chat', 'taken', { x: 1 });
    const wire = await alice.sm.encryptText('bob', 'retry me');
    const clash = (r: DecryptedIncoming): WriteOp[] => [
      { kind: 'putMessage', chat: r.peer.chatId, id: 'taken', value: { text: 'retry me' } },
    ];
    await expect(bob.sm.decrypt('alice', wire, clash)).rejects.toThrow(RangeError);
    const again = await bob.sm.decrypt('alice', wire, storeText('ok'));
    expect(text(again)).toBe('retry me');
    // A second delivery of the same bytes is now a duplicate and is refused.
    await expect(bob.sm.decrypt('alice', wire, () => [])).rejects.toMatchObject({ code: 'duplicate' });
  });

  it('flags a changed identity key, blocks sending until acknowledged, then talks to the new key', async () => {
    const alice = await device('alice');
    const bob = await device('bob');
    await alice.sm.addPeer('bob');
    await bob.sm.decrypt('alice', await alice.sm.encryptText('bob', 'before'), () => []);
    await alice.sm.setVerified('bob', true);
    // Bob reinstalls: a new device with a new identity key under the same name.
    const bob2 = await device('bob');
    const checked = await alice.sm.checkIdentity('bob');
    expect(checked).toMatchObject({ keyChanged: true, verified: false });
    await expect(alice.sm.encryptText('bob', 'blocked')).rejects.toMatchObject({
      code: 'key_change_unacknowledged',
    });
    await expect(alice.sm.setVerified('bob', true)).resolves.toMatchObject({ verified: false });
    const acked = await alice.sm.acknowledgeKeyChange('bob');
    expect(acked).toMatchObject({ keyChanged: false, verified: false, pendingIdentityKey: null });
    const wire = await alice.sm.encryptText('bob', 'after');
    expect(text(await bob2.sm.decrypt('alice', wire, () => []))).toBe('after');
  });

  it('marks an incoming session from a new identity key as a key change', async () => {
    const alice = await device('alice');
    const bob = await device('bob');
    await bob.sm.addPeer('alice');
    await alice.sm.addPeer('bob');
    await bob.sm.decrypt('alice', await alice.sm.encryptText('bob', 'one'), () => []);
    const alice2 = await device('alice');
    await alice2.sm.addPeer('bob');
    const r = await bob.sm.decrypt('alice', await alice2.sm.encryptText('bob', 'new phone'), () => []);
    expect(text(r)).toBe('new phone');
    expect(r.keyChanged).toBe(true);
    expect(await bob.sm.peer('alice')).toMatchObject({ keyChanged: true });
    await expect(bob.sm.encryptText('alice', 'x')).rejects.toBeInstanceOf(SecureError);
  });

  it('rejects garbage and ratchet messages without a session', async () => {
    const bob = await device('bob');
    await expect(bob.sm.decrypt('eve', new Uint8Array([1, 2, 3]), () => [])).rejects.toBeInstanceOf(
      SecureError,
    );
    await expect(bob.sm.decrypt('eve', new Uint8Array([]), () => [])).rejects.toBeInstanceOf(SecureError);
    const alice = await device('alice');
    const carol = await device('carol');
    await alice.sm.addPeer('carol');
    await carol.sm.decrypt('alice', await alice.sm.encryptText('carol', 'x'), () => []);
    const ratchet = await carol.sm.encryptText('alice', 'y');
    await alice.sm.decrypt('carol', ratchet, () => []);
    const later = await alice.sm.encryptText('carol', 'z'); // a ratchet message now
    await expect(bob.sm.decrypt('alice', later, () => [])).rejects.toMatchObject({ code: 'no_session' });
  });

  it('tops up one-time prekeys with fresh ids', async () => {
    const bob = await device('bob');
    expect(directory.stock('bob')).toBe(100);
    await bob.sm.topUpPrekeys();
    expect(directory.stock('bob')).toBe(200);
    const ids = (await bob.storage.list<{ id: number }>(RECORD.oneTimePreKeyPrefix)).map((r) => r.value.id);
    expect(new Set(ids).size).toBe(200);
    expect(Math.max(...ids)).toBe(200);
  });
});

describe('KeyedMutex', () => {
  it('runs tasks of one key in order and of different keys concurrently', async () => {
    const m = new KeyedMutex();
    const log: string[] = [];
    const wait = (ms: number) => new Promise((r) => setTimeout(r, ms));
    const task = (key: string, name: string, ms: number) =>
      m.run(key, async () => {
        log.push(`start ${name}`);
        await wait(ms);
        log.push(`end ${name}`);
      });
    await Promise.all([task('a', 'a1', 20), task('a', 'a2', 1), task('b', 'b1', 5)]);
    expect(log.indexOf('end a1')).toBeLessThan(log.indexOf('start a2'));
    expect(log.indexOf('start b1')).toBeLessThan(log.indexOf('end a1'));
  });

  it('keeps going after a failed task', async () => {
    const m = new KeyedMutex();
    await expect(m.run('k', async () => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    await expect(m.run('k', async () => 42)).resolves.toBe(42);
  });
});
