import { openDB } from 'idb';
import { beforeEach, describe, expect, it } from 'vitest';
import { openIdbStorage } from './idb-storage.ts';
import type { DeviceKeyring } from './keyring.ts';
import { StorageCorruptError, StorageLockedError } from './storage.ts';

let name: string;
let counter = 0;
beforeEach(() => {
  counter += 1;
  name = `test-store-${counter}-${crypto.randomUUID()}`;
});

/** Every byte IndexedDB holds for this database, as one latin1 string to search in. */
async function rawDump(dbName: string): Promise<string> {
  const db = await openDB(dbName);
  const parts: string[] = [];
  for (const store of db.objectStoreNames) {
    for (const value of await db.getAll(store)) {
      parts.push(
        JSON.stringify(value, (_k, v: unknown) =>
          v instanceof Uint8Array ? new TextDecoder('latin1').decode(v) : v,
        ),
      );
    }
    parts.push(JSON.stringify(await db.getAllKeys(store)));
  }
  db.close();
  return parts.join('\n');
}

describe('encrypted IndexedDB storage', () => {
  it('round-trips records including bytes, and finds them by prefix', async () => {
    const store = await openIdbStorage(name);
    const secret = new Uint8Array([0, 1, 2, 250, 255]);
    await store.put('session:a', { n: 1, key: secret, nested: { list: [secret] } });
    await store.put('session:b', { n: 2 });
    await store.put('other', 'x');
    expect(await store.get('session:a')).toEqual({ n: 1, key: secret, nested: { list: [secret] } });
    expect(await store.get('missing')).toBeUndefined();
    const listed = await store.list<{ n: number }>('session:');
    expect(listed.map((r) => [r.key, r.value.n])).toEqual([
      ['session:a', 1],
      ['session:b', 2],
    ]);
    await store.delete('session:a');
    expect(await store.get('session:a')).toBeUndefined();
  });

  it('keeps only ciphertext on disk: no plaintext text or key bytes in the raw database', async () => {
    const store = await openIdbStorage(name);
    const text = 'meet me at the old bridge at noon';
    const key = crypto.getRandomValues(new Uint8Array(32));
    await store.put('identity', { key });
    await store.putMessage('chat-1', 'm1', { text });
    store.lock();
    const raw = await rawDump(name);
    expect(raw).not.toContain(text);
    expect(raw).not.toContain('bridge');
    expect(raw).not.toContain(new TextDecoder('latin1').decode(key.subarray(0, 16)));
    expect(raw).toContain('chat-1'); // the opaque chat id is the index, by design
  });

  it('stores the wrapping key as a non-extractable CryptoKey and survives reopening', async () => {
    const first = await openIdbStorage(name);
    await first.put('k', { v: 'persisted' });
    first.lock();
    const db = await openDB(name);
    const keyring = (await db.get('meta', 'keyring')) as DeviceKeyring;
    db.close();
    expect(keyring.wrappingKey.extractable).toBe(false);
    expect(keyring.wrappingKey.usages.sort()).toEqual(['unwrapKey', 'wrapKey']);
    await expect(crypto.subtle.exportKey('raw', keyring.wrappingKey)).rejects.toThrow();
    const second = await openIdbStorage(name);
    expect(await second.get('k')).toEqual({ v: 'persisted' });
  });

  it('rejects a record moved to another key (AAD binds the key)', async () => {
    const store = await openIdbStorage(name);
    await store.put('a', 'value-a');
    await store.put('b', 'value-b');
    store.lock();
    const db = await openDB(name);
    await db.put('records', await db.get('records', 'a'), 'b');
    db.close();
    const reopened = await openIdbStorage(name);
    expect(await reopened.get('a')).toBe('value-a');
    await expect(reopened.get('b')).rejects.toBeInstanceOf(StorageCorruptError);
  });

  it('orders messages per chat, replaces in place, and returns the newest N', async () => {
    const store = await openIdbStorage(name);
    for (let i = 0; i < 250; i++) await store.putMessage('c1', `m${i}`, { i });
    await store.putMessage('c2', 'other', { i: -1 });
    await store.putMessage('c1', 'm3', { i: 3, state: 'delivered' });
    const all = await store.messages<{ i: number }>('c1');
    expect(all).toHaveLength(250);
    expect(all.map((m) => m.value.i)).toEqual([...Array(250).keys()]);
    expect(await store.getMessage('m3')).toEqual({ i: 3, state: 'delivered' });
    const last = await store.messages<{ i: number }>('c1', 200);
    expect(last).toHaveLength(200);
    expect(last[0]?.value.i).toBe(50);
    expect(last[199]?.value.i).toBe(249);
    await store.deleteChat('c1');
    expect(await store.messages('c1')).toEqual([]);
    expect(await store.messages('c2')).toHaveLength(1);
  });

  it('applies a batch atomically: a failing op leaves nothing written', async () => {
    const store = await openIdbStorage(name);
    await store.putMessage('c1', 'dup', { x: 1 });
    await expect(
      store.write([
        { kind: 'put', key: 'session', value: { ratchet: 2 } },
        { kind: 'putMessage', chat: 'c2', id: 'dup', value: { x: 2 } },
      ]),
    ).rejects.toThrow(RangeError);
    expect(await store.get('session')).toBeUndefined();
    expect(await store.getMessage('dup')).toEqual({ x: 1 });
    await store.write([
      { kind: 'put', key: 'session', value: { ratchet: 2 } },
      { kind: 'putMessage', chat: 'c1', id: 'm2', value: { x: 3 } },
    ]);
    expect(await store.get('session')).toEqual({ ratchet: 2 });
    expect(await store.getMessage('m2')).toEqual({ x: 3 });
  });

  it("commits a write with durability 'strict' only when asked, in the same single transaction", async () => {
    const store = await openIdbStorage(name);
    const proto = globalThis.IDBDatabase.prototype;
    const original = proto.transaction;
    const seen: string[] = [];
    proto.transaction = function (this: IDBDatabase, ...args: Parameters<IDBDatabase['transaction']>) {
      const tx = original.apply(this, args);
      if (tx.mode === 'readwrite') seen.push(tx.durability);
      return tx;
    } as IDBDatabase['transaction'];
    try {
      await store.write([{ kind: 'put', key: 'a', value: 1 }]);
      await store.write([{ kind: 'put', key: 'b', value: 2 }], { durability: 'strict' });
    } finally {
      proto.transaction = original;
    }
    expect(seen).toEqual(['default', 'strict']);
    expect(await store.get('b')).toBe(2);
  });

  it('lets go when another connection erases the database, and then behaves as locked', async () => {
    const first = await openIdbStorage(name);
    await first.put('k', 1);
    const second = await openIdbStorage(name);
    // Without letting go, this deletion would wait for as long as `first` stays open.
    await second.erase();
    await expect(first.get('k')).rejects.toBeInstanceOf(StorageLockedError);
    expect(await (await openIdbStorage(name)).get('k')).toBeUndefined();
  });

  it('lock drops the key: every later call rejects', async () => {
    const store = await openIdbStorage(name);
    await store.put('k', 1);
    store.lock();
    await expect(store.get('k')).rejects.toBeInstanceOf(StorageLockedError);
    await expect(store.put('k', 2)).rejects.toBeInstanceOf(StorageLockedError);
    await expect(store.messages('c')).rejects.toBeInstanceOf(StorageLockedError);
  });

  it('erase deletes the database: a reopened store is empty with a new keyring', async () => {
    const store = await openIdbStorage(name);
    await store.put('k', 1);
    await store.putMessage('c', 'm', 'x');
    await store.erase();
    const names = (await indexedDB.databases()).map((d) => d.name);
    expect(names).not.toContain(name);
    const fresh = await openIdbStorage(name);
    expect(await fresh.get('k')).toBeUndefined();
    expect(await fresh.messages('c')).toEqual([]);
  });
});
