// Two devices, each with its own encrypted IndexedDB store and SessionManager, talking
// through crypto-core for real, with their keys published on and fetched from the REAL relay
// (test-relay/global-setup.ts) through the transport layer (RelayApi). Fresh accounts per test.
// @vitest-environment node

import { generateIdentity } from '@secure-drop/crypto-core/identity';
import { generatePqPreKey, generateSignedPreKey } from '@secure-drop/crypto-core/prekeys';
import {
  encryptMessage,
  initiateSession,
  messageKind,
  parseInitialMessage,
} from '@secure-drop/crypto-core/session';
import fc from 'fast-check';
import { describe, expect, it, vi } from 'vitest';
import { openIdbStorage } from '../storage/idb-storage.ts';
import type { Storage, WriteOp } from '../storage/storage.ts';
import { type RelayUser, registerOnRelay, signInAgain } from '../test/relay.ts';
import { MAX_DEVICES, type RelayApi } from '../transport/api.ts';
import { publishAccountKeys } from './account-keys.ts';
import { SecureError } from './errors.ts';
import { KeyedMutex } from './mutex.ts';
import { PREKEY_ROTATION_INTERVAL_MS, RETIRED_PREKEY_GRACE_MS } from './prekey-lifecycle.ts';
import {
  RECORD,
  type StoredIdentity,
  type StoredPeer,
  type StoredPrekeyState,
  type StoredReplayRecord,
} from './records.ts';
import {
  type ConversationLocks,
  type DecryptedIncoming,
  type KeyServer,
  MAX_ARCHIVED_SESSIONS,
  MAX_UNTRUSTED_SESSIONS,
  prekeyBundleOf,
  SessionManager,
  type SessionManagerOptions,
} from './session-manager.ts';

interface Device {
  name: string;
  user: RelayUser;
  api: RelayApi;
  storage: Storage;
  sm: SessionManager;
  /** Bundles this device fetched from the relay. */
  fetches: () => number;
}

interface DeviceOptions extends SessionManagerOptions {
  /** Replaces the relay's upload (to make it fail). */
  readonly uploadKeys?: KeyServer['uploadKeys'];
  /** Wraps the relay's bundle answers (a relay that lies about them). */
  readonly bundles?: (real: KeyServer['bundles']) => KeyServer['bundles'];
  /** Wraps the relay's identity answers. */
  readonly identity?: (real: KeyServer['identity']) => KeyServer['identity'];
}

/** A device on `api`: creates the account keys in a fresh store and uploads the public halves. */
async function deviceOn(user: RelayUser, api: RelayApi, options: DeviceOptions = {}): Promise<Device> {
  const storage = await openIdbStorage(`sm-${user.username}-${crypto.randomUUID()}`);
  let fetches = 0;
  // The real API, counting bundle fetches (each one spends a one-time prekey on the relay).
  const real: KeyServer['bundles'] = (name, ids) => api.bundles(name, ids);
  const served = options.bundles?.(real) ?? real;
  const server: KeyServer = {
    bundles: (name, ids) => {
      fetches += 1;
      return served(name, ids);
    },
    identity: options.identity?.((name) => api.identity(name)) ?? ((name) => api.identity(name)),
    uploadKeys: (keys) => (options.uploadKeys ?? ((k) => api.uploadKeys(k)))(keys),
    keyStatus: () => api.keyStatus(),
  };
  await publishAccountKeys(storage, user.username, api, options.clock?.());
  return {
    name: user.username,
    user,
    api,
    storage,
    sm: new SessionManager(storage, server, options),
    fetches: () => fetches,
  };
}

async function device(prefix: string, options: DeviceOptions = {}): Promise<Device> {
  const user = await registerOnRelay(prefix);
  return deviceOn(user, user.api, options);
}

/** The same account on a new device (a reinstall): signed in again, new identity key uploaded. */
async function reinstall(d: Device): Promise<Device> {
  return deviceOn(d.user, await signInAgain(d.user));
}

/** One-time prekeys the relay holds for this account. */
const stock = async (d: Device) => (await d.api.keyStatus()).one_time_prekeys;

const text = (r: DecryptedIncoming) => new TextDecoder().decode(r.body);
const storeText =
  (id: string) =>
  (r: DecryptedIncoming): WriteOp[] => [
    { kind: 'putMessage', chat: r.peer.chatId, id, value: { text: new TextDecoder().decode(r.body) } },
  ];

/** Two devices with a session both ways (one round trip), so sends are ratchet messages. */
async function established(
  aliceOptions: DeviceOptions = {},
  bobOptions: DeviceOptions = {},
): Promise<[Device, Device]> {
  const alice = await device('alice', aliceOptions);
  const bob = await device('bob', bobOptions);
  await alice.sm.addPeer(bob.name);
  await bob.sm.decrypt(alice.name, await alice.sm.encryptText(bob.name, 'hi'), () => []);
  await alice.sm.decrypt(bob.name, await bob.sm.encryptText(alice.name, 'hello'), () => []);
  return [alice, bob];
}

/**
 * A first message "from" `as`, made by the relay under an identity key of its own with `to`'s
 * published bundle: what a relay can always forge (it needs no secret of anyone's).
 */
async function forgedFirstMessage(
  to: Device,
  as: Device,
  body: string,
  relayKey = generateIdentity(),
): Promise<{ wire: Uint8Array; key: Uint8Array; relayKey: ReturnType<typeof generateIdentity> }> {
  const bundle = (await as.api.bundles(to.name)).devices[0];
  if (!bundle) throw new Error('no bundle');
  const { session } = initiateSession(relayKey, prekeyBundleOf(bundle), {
    initiator: as.name,
    responder: to.name,
  });
  const sealed = await encryptMessage(session, 'text', {
    body: new TextEncoder().encode(body),
    sentAt: Date.now(),
    order: 1,
  });
  return { wire: sealed.message, key: relayKey.publicKey, relayKey };
}

const hex = (b: Uint8Array) => Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');

/**
 * Message keys used twice among ratchet messages: a message key is named by the sending
 * chain's ratchet public key and the message number N (spec/protocol.md §8 header: version,
 * kind, direction, type, DHs[4..36], PN[36..40], N[40..44], nonce[44..56]).
 */
function reusedMessageKeys(wires: readonly Uint8Array[]): string[] {
  const seen = new Set<string>();
  const reused: string[] = [];
  for (const w of wires) {
    expect(messageKind(w)).toBe('ratchet');
    const id = `${hex(w.subarray(4, 36))}/${new DataView(w.buffer, w.byteOffset + 40, 4).getUint32(0)}`;
    if (seen.has(id)) reused.push(id);
    seen.add(id);
  }
  return reused;
}

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
    // The one-time prekeys (X25519 and ML-KEM) the initial message used are gone from Bob's device.
    expect((await bob.storage.list(RECORD.oneTimePreKeyPrefix)).length).toBe(99);
    expect((await bob.storage.list(RECORD.oneTimePqPreKeyPrefix)).length).toBe(99);
    for (let i = 0; i < 6; i++) {
      const [from, to] = i % 2 === 0 ? [bob, alice] : [alice, bob];
      const wire = await from.sm.encryptText(to.name, `msg ${i}`);
      expect(text(await to.sm.decrypt(from.name, wire, () => []))).toBe(`msg ${i}`);
    }
    expect(alice.fetches()).toBe(1);
    expect(bob.fetches()).toBe(0);
    // The relay handed those prekeys out once: 100 of each uploaded, 99 left.
    expect(await stock(bob)).toBe(99);
    expect((await bob.api.keyStatus()).one_time_pq_prekeys).toBe(99);
    // Sender time and order travel inside the ciphertext.
    expect(got).toMatchObject({ order: 1 });
    expect(got.sentAt).toBeGreaterThan(0);
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
    const [alice, bob] = await established();
    const wires = await Promise.all(
      Array.from({ length: 8 }, (_, i) => alice.sm.encryptText(bob.name, `p${i}`)),
    );
    expect(reusedMessageKeys(wires)).toEqual([]);
    const opened: string[] = [];
    for (const w of wires) opened.push(text(await bob.sm.decrypt(alice.name, w, () => [])));
    expect(opened.sort()).toEqual(Array.from({ length: 8 }, (_, i) => `p${i}`).sort());
  });

  it('the key-reuse detector works: without the conversation lock concurrent sends reuse a message key', async () => {
    // The same account and store twice over: one manager with the real lock, one whose lock
    // is a no-op. Only the second may (and, racing over one stored state, does) reuse a key.
    const noLock: ConversationLocks = { run: (_key, task) => task() };
    const [alice, bob] = await established({ locks: noLock });
    const wires = await Promise.all(
      Array.from({ length: 8 }, (_, i) => alice.sm.encryptText(bob.name, `race ${i}`)),
    );
    expect(reusedMessageKeys(wires).length).toBeGreaterThan(0);
    // The random header nonce (spec/protocol.md §9) keeps even these from sharing a GCM nonce.
    expect(new Set(wires.map((w) => hex(w.subarray(44, 56)))).size).toBe(wires.length);
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
    // Verified before the change: a plain click is refused; only a scan of exactly the pending
    // key or the explicit second step accepts it.
    expect(checked).toMatchObject({ verifiedBeforeChange: true });
    await expect(alice.sm.acknowledgeKeyChange(bob.name)).rejects.toMatchObject({
      code: 'verification_required',
    });
    await expect(
      alice.sm.acknowledgeKeyChange(bob.name, 'scanned', new Uint8Array(32)),
    ).rejects.toMatchObject({ code: 'key_change_unacknowledged' });
    const acked = await alice.sm.acknowledgeKeyChange(bob.name, 'without-verifying');
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

  it('tops up one-time X25519 and ML-KEM prekeys with fresh ids', async () => {
    const bob = await device('bob');
    expect(await stock(bob)).toBe(100);
    await bob.sm.topUpPrekeys();
    expect(await stock(bob)).toBe(200);
    expect((await bob.api.keyStatus()).one_time_pq_prekeys).toBe(200);
    for (const prefix of [RECORD.oneTimePreKeyPrefix, RECORD.oneTimePqPreKeyPrefix]) {
      const ids = (await bob.storage.list<{ id: number }>(prefix)).map((r) => r.value.id);
      expect(new Set(ids).size).toBe(200);
      expect(Math.max(...ids)).toBe(200);
    }
    const state = await bob.storage.get<StoredPrekeyState>(RECORD.prekeyState);
    expect(state).toMatchObject({ pendingOneTime: null, pendingOneTimePq: null });
  });

  it('seals every send with strict durability (a sending chain must not roll back after a crash)', async () => {
    const [alice, bob] = await established();
    const writes = vi.spyOn(alice.storage, 'write');
    await alice.sm.encryptText(bob.name, 'durable');
    const sealing = writes.mock.calls.find(([ops]) =>
      ops.some((op) => op.kind === 'put' && op.key.startsWith('session:')),
    );
    expect(sealing?.[1]).toEqual({ durability: 'strict' });
  });

  it('rotates past the relay’s prekeys when its store was rolled back behind them (409 stale_prekey_id)', async () => {
    const clock = { now: Date.now() };
    const bob = await device('bob', { clock: () => clock.now });
    // The relay holds pair 5 — published from a later state of this device that was lost.
    const { keyPair } = (await bob.storage.get<StoredIdentity>(RECORD.identity)) as StoredIdentity;
    const spk5 = generateSignedPreKey(keyPair, 5);
    const pq5 = generatePqPreKey(keyPair, 5);
    await bob.api.uploadKeys({
      signedPreKey: { id: 5, publicKey: spk5.publicKey, signature: spk5.signature },
      pqPreKey: { id: 5, publicKey: pq5.publicKey, signature: pq5.signature },
    });
    clock.now += PREKEY_ROTATION_INTERVAL_MS;
    const result = await bob.sm.maintainPrekeys();
    expect(result).toEqual({ rotated: true, deleted: [] });
    expect(await bob.api.identity(bob.name)).toMatchObject({ signedPreKeyId: 6, pqPreKeyId: 6 });
    const state = await bob.storage.get<StoredPrekeyState>(RECORD.prekeyState);
    expect(state).toMatchObject({ signedPreKeyId: 6, pqPreKeyId: 6, uploaded: true });
    expect(state?.retired.map((r) => r.signedPreKeyId)).toEqual([1, 2]);
    // A new contact's first message uses the pair this device holds, and opens.
    const alice = await device('alice');
    await alice.sm.addPeer(bob.name);
    const first = await alice.sm.encryptText(bob.name, 'after the rollback');
    expect(parseInitialMessage(first).signedPreKeyId).toBe(6);
    expect(text(await bob.sm.decrypt(alice.name, first, () => []))).toBe('after the rollback');
  });

  // ── finding: replayed initial message accepted as new ──────────────────────────────────

  it('refuses a first message replayed after 1, 6 and 50 ratchet steps, leaving the session unchanged', async () => {
    for (const steps of [1, 6, 50]) {
      const alice = await device('alice');
      const bob = await device('bob');
      await alice.sm.addPeer(bob.name);
      const first = await alice.sm.encryptText(bob.name, 'first');
      await bob.sm.decrypt(alice.name, first, () => []);
      for (let i = 0; i < steps; i++) {
        const [from, to] = i % 2 === 0 ? [bob, alice] : [alice, bob];
        await to.sm.decrypt(from.name, await from.sm.encryptText(to.name, `step ${i}`), () => []);
      }
      const chatId = (await bob.sm.peer(alice.name))?.chatId as string;
      const before = await bob.storage.get(RECORD.session(chatId, 1));
      await expect(bob.sm.decrypt(alice.name, first, storeText(`replay-${steps}`))).rejects.toMatchObject({
        code: 'duplicate',
      });
      expect(await bob.storage.get(RECORD.session(chatId, 1))).toEqual(before);
      expect(await bob.storage.getMessage(`replay-${steps}`)).toBeUndefined();
      // The live session is untouched: the conversation goes on.
      const next = await alice.sm.encryptText(bob.name, 'still here');
      expect(text(await bob.sm.decrypt(alice.name, next, () => []))).toBe('still here');
    }
  }, 120_000);

  it('refuses a first message replayed after its session was dropped (the replay log outlives it)', async () => {
    const alice = await device('alice');
    const bob = await device('bob');
    await alice.sm.addPeer(bob.name);
    const first = await alice.sm.encryptText(bob.name, 'first');
    await bob.sm.decrypt(alice.name, first, () => []);
    await bob.sm.removePeer(alice.name);
    await expect(bob.sm.decrypt(alice.name, first, () => [])).rejects.toMatchObject({ code: 'duplicate' });
    const peer = await bob.sm.peer(alice.name);
    expect(await bob.storage.get(RECORD.session(peer?.chatId as string, 1))).toBeUndefined();
    const records = await bob.storage.list<StoredReplayRecord>(RECORD.replayPrefix);
    expect(records).toHaveLength(1);
    expect(records[0]?.value).toMatchObject({ signedPreKeyId: 1, pqPreKeyKind: 'one-time' });
  });

  it('never lets a session from a first message replace a current one whose ratchet moved on', async () => {
    const [alice, bob] = await established();
    const chatAtBob = (await bob.sm.peer(alice.name))?.chatId as string;
    const chatAtAlice = (await alice.sm.peer(bob.name))?.chatId as string;
    const live = (await bob.sm.loadSessions(chatAtBob))[0]?.baseKey as Uint8Array;
    // Alice's device loses its session (a restored backup): it starts a new one.
    await alice.storage.delete(RECORD.session(chatAtAlice, 1));
    const restart = await alice.sm.encryptText(bob.name, 'new session');
    expect(text(await bob.sm.decrypt(alice.name, restart, () => []))).toBe('new session');
    const sessions = await bob.sm.loadSessions(chatAtBob);
    expect(hex(sessions[0]?.baseKey as Uint8Array)).toBe(hex(live));
    // A later message of the new session opens from the archive and makes it current.
    const again = await alice.sm.encryptText(bob.name, 'second of the new session');
    expect(text(await bob.sm.decrypt(alice.name, again, () => []))).toBe('second of the new session');
    expect(hex((await bob.sm.loadSessions(chatAtBob))[0]?.baseKey as Uint8Array)).not.toBe(hex(live));
    const reply = await bob.sm.encryptText(alice.name, 'reply');
    expect(text(await alice.sm.decrypt(bob.name, reply, () => []))).toBe('reply');
  });

  it('keeps the current session and up to 40 archived ones per contact (libsignal ARCHIVED_STATES_MAX_LENGTH)', async () => {
    const [alice, bob] = await established();
    const chatAtBob = (await bob.sm.peer(alice.name))?.chatId as string;
    const chatAtAlice = (await alice.sm.peer(bob.name))?.chatId as string;
    const live = hex((await bob.sm.loadSessions(chatAtBob))[0]?.baseKey as Uint8Array);
    for (let i = 0; i < MAX_ARCHIVED_SESSIONS + 3; i++) {
      await alice.storage.delete(RECORD.session(chatAtAlice, 1));
      await bob.sm.decrypt(alice.name, await alice.sm.encryptText(bob.name, `restart ${i}`), () => []);
    }
    const sessions = await bob.sm.loadSessions(chatAtBob);
    expect(sessions).toHaveLength(1 + MAX_ARCHIVED_SESSIONS);
    expect(hex(sessions[0]?.baseKey as Uint8Array)).toBe(live);
  }, 120_000);

  // ── finding: unknown key share (usernames not bound into the handshake) ────────────────

  it('refuses a first message the relay labels as sent by another account', async () => {
    const alice = await device('alice');
    const bob = await device('bob');
    await alice.sm.addPeer(bob.name);
    const first = await alice.sm.encryptText(bob.name, 'from alice');
    await expect(bob.sm.decrypt('mallory', first, () => [])).rejects.toMatchObject({ code: 'undecryptable' });
    expect(text(await bob.sm.decrypt(alice.name, first, () => []))).toBe('from alice');
  });

  it('binds the account it asked for: keys the relay serves under another account’s name reach no one', async () => {
    const bob = await device('bob');
    const mallory = await device('mallory');
    // The relay answers Alice's GET /keys/bob with Mallory's genuine, signed bundle, under
    // Mallory's name (an unknown key share: spec/protocol.md §5.4, names in AD).
    const alice = await device('alice', {
      bundles: (real) => (name, ids) => (name === bob.name ? real(mallory.name) : real(name, ids)),
    });
    await alice.sm.addPeer(bob.name);
    const wire = await alice.sm.encryptText(bob.name, 'for bob only');
    // Delivered to Mallory as from Alice: the handshake binds the name Alice asked for, so it fails.
    await expect(mallory.sm.decrypt(alice.name, wire, () => [])).rejects.toMatchObject({
      code: 'undecryptable',
    });
  });

  it('a key change refused by a scan of the trusted key: the change and its sessions go, and the conversation goes on', async () => {
    // What the relay's identity route answers for Alice, once set (the relay's own key).
    let served: Uint8Array | null = null;
    const [alice, bob] = await established(
      {},
      {
        identity: (real) => async (name) => ({
          ...(await real(name)),
          ...(served ? { identityKey: served } : {}),
        }),
      },
    );
    const forged = await forgedFirstMessage(bob, alice, 'it is me, new phone');
    expect((await bob.sm.decrypt(alice.name, forged.wire, () => [])).keyChanged).toBe(true);
    await expect(bob.sm.encryptText(alice.name, 'held')).rejects.toMatchObject({
      code: 'key_change_unacknowledged',
    });
    // Genuine traffic under the trusted key opens meanwhile, but does not settle the change.
    expect(text(await bob.sm.decrypt(alice.name, await alice.sm.encryptText(bob.name, 'me'), () => []))).toBe(
      'me',
    );
    const flagged = (await bob.sm.peer(alice.name)) as StoredPeer;
    expect(flagged.keyChanged).toBe(true);
    const trusted = flagged.identityKey as Uint8Array;
    // A refusal names both keys the scan was compared with; with another pending key, nothing.
    await expect(bob.sm.refuseKeyChange(alice.name, trusted, new Uint8Array(32))).rejects.toMatchObject({
      code: 'key_change_unacknowledged',
    });
    await expect(bob.sm.refuseKeyChange(alice.name, forged.key, forged.key)).rejects.toMatchObject({
      code: 'key_change_unacknowledged',
    });
    const kept = await bob.sm.refuseKeyChange(alice.name, trusted, forged.key);
    expect(kept).toMatchObject({ keyChanged: false, pendingIdentityKey: null, verified: true });
    expect(hex(kept.identityKey as Uint8Array)).toBe(hex(trusted));
    const sessions = await bob.sm.loadSessions(kept.chatId);
    expect(sessions.length).toBeGreaterThan(0);
    expect(sessions.filter((s) => hex(s.remoteIdentityKey) === hex(forged.key))).toHaveLength(0);
    // Both ways again, on the genuine session.
    expect(
      text(await alice.sm.decrypt(bob.name, await bob.sm.encryptText(alice.name, 'back'), () => [])),
    ).toBe('back');
    expect(
      text(await bob.sm.decrypt(alice.name, await alice.sm.encryptText(bob.name, 'still me'), () => [])),
    ).toBe('still me');
    // The forged first message replayed: refused (the replay log), the change not raised again.
    await expect(bob.sm.decrypt(alice.name, forged.wire, () => [])).rejects.toBeInstanceOf(SecureError);
    expect(await bob.sm.peer(alice.name)).toMatchObject({ keyChanged: false });
    // A new first message under the refused key: not opened, no change raised again.
    const again = await forgedFirstMessage(bob, alice, 'it is me, really', forged.relayKey);
    await expect(bob.sm.decrypt(alice.name, again.wire, () => [])).rejects.toMatchObject({
      code: 'undecryptable',
    });
    // The relay's identity route serving the refused key: no change either.
    served = forged.key;
    expect(await bob.sm.checkIdentity(alice.name)).toMatchObject({ keyChanged: false, verified: true });
    // A key the user never refused is a change as before.
    served = generateIdentity().publicKey;
    expect(await bob.sm.checkIdentity(alice.name)).toMatchObject({ keyChanged: true, verified: false });
  });

  it('a refused key that a later scan proves is the contact’s becomes the trusted one', async () => {
    const [alice, bob] = await established();
    const forged = await forgedFirstMessage(bob, alice, 'a new phone, not yet verified');
    await bob.sm.decrypt(alice.name, forged.wire, () => []);
    const flagged = (await bob.sm.peer(alice.name)) as StoredPeer;
    await bob.sm.refuseKeyChange(alice.name, flagged.identityKey as Uint8Array, forged.key);
    await expect(bob.sm.acceptRefusedKey(alice.name, new Uint8Array(32))).rejects.toMatchObject({
      code: 'key_change_unacknowledged',
    });
    const trusted = await bob.sm.acceptRefusedKey(alice.name, forged.key);
    expect(trusted).toMatchObject({ keyChanged: false, verified: true, refusedKeys: [] });
    expect(hex(trusted.identityKey as Uint8Array)).toBe(hex(forged.key));
    // No session under the superseded key is left: the next send starts from the relay's bundles.
    expect(await bob.sm.loadSessions(trusted.chatId)).toEqual([]);
  });

  it('a contact’s device list, and the sessions kept, stay within an account’s, whatever device the relay names; a device it lists is heard', async () => {
    // Devices the relay's identity route lists for Alice, beyond her first: set as the test goes.
    let listed: number[] = [];
    const [alice, bob] = await established(
      {},
      {
        identity: (real) => async (name) => {
          const answer = await real(name);
          return { ...answer, deviceIds: [...answer.deviceIds, ...listed] };
        },
      },
    );
    const chatAtBob = (await bob.sm.peer(alice.name))?.chatId as string;
    const outcome = async (device: number) => {
      const forged = await forgedFirstMessage(bob, alice, `device ${device}`);
      return bob.sm
        .decrypt(alice.name, forged.wire, () => [], device)
        .then(
          () => 'opened',
          (e: SecureError) => e.code,
        );
    };
    // The relay delivers first messages "from" ever new devices of Alice that it does not list.
    const outcomes: string[] = [];
    for (let device = 2; device <= MAX_DEVICES + 2; device++) outcomes.push(await outcome(device));
    // Devices 2–16 fill the list; 17 finds it full, the relay lists none of them, so they go with
    // their sessions and 17 (not listed either) is refused; 18 then has room.
    expect(outcomes.slice(0, MAX_DEVICES - 1).every((o) => o === 'opened')).toBe(true);
    expect(outcomes.slice(-2)).toEqual(['undecryptable', 'opened']);
    expect((await bob.sm.peer(alice.name))?.devices).toEqual([1, MAX_DEVICES + 2]);
    expect((await bob.storage.list(RECORD.sessionsOf(chatAtBob))).length).toBeLessThanOrEqual(2);
    // Alice's own device still works.
    expect(text(await bob.sm.decrypt(alice.name, await alice.sm.encryptText(bob.name, 'me'), () => []))).toBe(
      'me',
    );
    // A full list again, and a new device the relay does list (a contact who has used many device
    // ids over time): heard.
    for (let device = 100; device < 100 + MAX_DEVICES - 2; device++) await outcome(device);
    expect((await bob.sm.peer(alice.name))?.devices).toHaveLength(MAX_DEVICES);
    listed = [200];
    expect(await outcome(200)).toBe('opened');
    expect((await bob.sm.peer(alice.name))?.devices).toEqual([1, 200]);
  }, 120_000);

  it('forged first messages under untrusted keys never push the genuine sessions out', async () => {
    const [alice, bob] = await established();
    const chatAtBob = (await bob.sm.peer(alice.name))?.chatId as string;
    const genuine = hex((await bob.sm.loadSessions(chatAtBob))[0]?.baseKey as Uint8Array);
    for (let i = 0; i < MAX_ARCHIVED_SESSIONS + 3; i++) {
      const forged = await forgedFirstMessage(bob, alice, `forged ${i}`);
      await bob.sm.decrypt(alice.name, forged.wire, () => []);
    }
    const sessions = await bob.sm.loadSessions(chatAtBob);
    const trusted = (await bob.sm.peer(alice.name))?.identityKey as Uint8Array;
    expect(sessions.filter((s) => hex(s.remoteIdentityKey) !== hex(trusted)).length).toBeLessThanOrEqual(
      MAX_UNTRUSTED_SESSIONS,
    );
    expect(sessions.map((s) => hex(s.baseKey))).toContain(genuine);
    // Alice's next message still opens on it.
    expect(
      text(await bob.sm.decrypt(alice.name, await alice.sm.encryptText(bob.name, 'genuine'), () => [])),
    ).toBe('genuine');
  }, 120_000);

  // ── finding: identity lookups spend one-time prekeys ──────────────────────────────────

  it('the key-change check and the safety screen leave the relay’s one-time prekey stock unchanged', async () => {
    const alice = await device('alice');
    const bob = await device('bob');
    await alice.sm.addPeer(bob.name);
    const before = await bob.api.keyStatus();
    for (let i = 0; i < 3; i++) {
      await alice.sm.checkIdentity(bob.name);
      await alice.sm.safetyKeys(bob.name);
    }
    const after = await bob.api.keyStatus();
    expect(after.one_time_prekeys).toBe(before.one_time_prekeys);
    expect(after.one_time_pq_prekeys).toBe(before.one_time_pq_prekeys);
    expect(alice.fetches()).toBe(0);
    expect((await alice.sm.peer(bob.name))?.identityKey).toEqual(
      (await bob.api.identity(bob.name)).identityKey,
    );
  });

  // ── finding: signed prekeys never rotated ────────────────────────────────────────────

  it('refuses a first message made with a rotated-out signed prekey once its grace period is over', async () => {
    // Whoever leaked a signed prekey secret can forge first messages only naming THAT prekey
    // (DH1 = DH(IK_A, SPK_B) needs its secret), so they are refused once it is deleted.
    const clock = { now: Date.now() };
    const bob = await device('bob', { clock: () => clock.now });
    const alice = await device('alice');
    const carol = await device('carol');
    await alice.sm.addPeer(bob.name);
    await carol.sm.addPeer(bob.name);
    // Both made while prekey 1 is current; delivered later.
    const inFlight = await alice.sm.encryptText(bob.name, 'written before the rotation');
    const late = await carol.sm.encryptText(bob.name, 'delivered after the grace period');
    expect(parseInitialMessage(late).signedPreKeyId).toBe(1);

    clock.now += PREKEY_ROTATION_INTERVAL_MS;
    expect(await bob.sm.maintainPrekeys()).toEqual({ rotated: true, deleted: [] });
    expect(await bob.api.identity(bob.name)).toMatchObject({ signedPreKeyId: 2, pqPreKeyId: 2 });
    // A new contact now starts with prekey 2.
    const dave = await device('dave');
    await dave.sm.addPeer(bob.name);
    expect(parseInitialMessage(await dave.sm.encryptText(bob.name, 'hi')).signedPreKeyId).toBe(2);

    // Within the grace period a message in flight still opens.
    clock.now += RETIRED_PREKEY_GRACE_MS - 1;
    expect((await bob.sm.maintainPrekeys()).deleted).toEqual([]);
    expect(text(await bob.sm.decrypt(alice.name, inFlight, () => []))).toBe('written before the rotation');
    expect(await bob.storage.list(RECORD.replayOf(1))).toHaveLength(1);

    clock.now += 1;
    // Not before the mailbox is fetched (spec/protocol.md §4.7): the caller says when.
    expect((await bob.sm.maintainPrekeys({ deleteExpired: false })).deleted).toEqual([]);
    expect(await bob.storage.get(RECORD.signedPreKey(1))).toBeDefined();
    expect((await bob.sm.maintainPrekeys()).deleted).toEqual([1]);
    expect(await bob.storage.get(RECORD.signedPreKey(1))).toBeUndefined();
    expect(await bob.storage.get(RECORD.pqPreKey(1))).toBeUndefined();
    expect(await bob.storage.list(RECORD.replayOf(1))).toEqual([]);
    await expect(bob.sm.decrypt(carol.name, late, () => [])).rejects.toMatchObject({ code: 'undecryptable' });
    // The session made in the grace period lives on.
    const more = await alice.sm.encryptText(bob.name, 'after the deletion');
    expect(text(await bob.sm.decrypt(alice.name, more, () => []))).toBe('after the deletion');
  });

  it('keeps rotated keys through a failed upload, publishes them next run, and starts the grace period only then', async () => {
    const clock = { now: Date.now() };
    let offline = true;
    const user = await registerOnRelay('bob');
    const bob = await deviceOn(user, user.api, {
      clock: () => clock.now,
      uploadKeys: (keys) => (offline ? Promise.reject(new Error('offline')) : user.api.uploadKeys(keys)),
    });
    clock.now += PREKEY_ROTATION_INTERVAL_MS;
    const failed = await bob.sm.maintainPrekeys();
    expect(failed).toMatchObject({ rotated: true, deleted: [] });
    expect(failed.uploadError).toBeInstanceOf(Error);
    const stored = await bob.storage.get<StoredPrekeyState>(RECORD.prekeyState);
    expect(stored).toMatchObject({ signedPreKeyId: 2, pqPreKeyId: 2, uploaded: false });
    expect(stored?.retired).toEqual([{ signedPreKeyId: 1, pqPreKeyId: 1, replacedAt: null }]);
    const spk2 = await bob.storage.get(RECORD.signedPreKey(2));
    expect(spk2).toBeDefined();
    expect((await bob.api.identity(bob.name)).signedPreKeyId).toBe(1);
    // Long offline: no second rotation over an unpublished one, no deletion before publication.
    clock.now += 3 * RETIRED_PREKEY_GRACE_MS;
    expect(await bob.sm.maintainPrekeys()).toMatchObject({ rotated: false, deleted: [] });
    expect(await bob.storage.get(RECORD.signedPreKey(1))).toBeDefined();
    offline = false;
    expect(await bob.sm.maintainPrekeys()).toEqual({ rotated: false, deleted: [] });
    expect(await bob.api.identity(bob.name)).toMatchObject({ signedPreKeyId: 2, pqPreKeyId: 2 });
    expect(await bob.storage.get(RECORD.signedPreKey(2))).toEqual(spk2);
    // Overdue again (the pair was made long ago): the next run rotates to 3; 1 goes after grace.
    expect(await bob.sm.maintainPrekeys()).toMatchObject({ rotated: true });
    expect((await bob.api.identity(bob.name)).signedPreKeyId).toBe(3);
    clock.now += RETIRED_PREKEY_GRACE_MS;
    expect((await bob.sm.maintainPrekeys()).deleted).toEqual([1, 2]);
  });
});

describe('SessionManager under random interleavings', () => {
  it('delivers every message exactly once and refuses every replay without changing state', async () => {
    const [alice, bob] = await established();
    const chatOf = async (d: Device, other: Device) => (await d.sm.peer(other.name))?.chatId as string;
    const chats = new Map([
      [alice, await chatOf(alice, bob)],
      [bob, await chatOf(bob, alice)],
    ]);
    type Sent = { from: Device; to: Device; wire: Uint8Array; text: string };
    const held: Sent[] = [];
    const delivered: Sent[] = [];
    const received = new Map<string, number>();
    let n = 0;
    const deliver = async (m: Sent) => {
      const r = await m.to.sm.decrypt(m.from.name, m.wire, () => []);
      expect(text(r)).toBe(m.text);
      received.set(m.text, (received.get(m.text) ?? 0) + 1);
      delivered.push(m);
    };
    const command = fc.oneof(
      fc.record({ kind: fc.constant('send' as const), fromAlice: fc.boolean(), now: fc.boolean() }),
      fc.record({ kind: fc.constant('deliverHeld' as const), pick: fc.nat() }),
      fc.record({ kind: fc.constant('replay' as const), pick: fc.nat() }),
    );
    await fc.assert(
      fc.asyncProperty(fc.array(command, { minLength: 1, maxLength: 12 }), async (commands) => {
        for (const c of commands) {
          if (c.kind === 'send') {
            const [from, to] = c.fromAlice ? [alice, bob] : [bob, alice];
            n += 1;
            const m = { from, to, text: `msg ${n}`, wire: await from.sm.encryptText(to.name, `msg ${n}`) };
            if (c.now) await deliver(m);
            else held.push(m);
          } else if (c.kind === 'deliverHeld' && held.length) {
            await deliver(held.splice(c.pick % held.length, 1)[0] as Sent);
          } else if (c.kind === 'replay' && delivered.length) {
            const m = delivered[c.pick % delivered.length] as Sent;
            const key = RECORD.session(chats.get(m.to) as string, 1);
            const before = await m.to.storage.get(key);
            await expect(m.to.sm.decrypt(m.from.name, m.wire, () => [])).rejects.toBeInstanceOf(SecureError);
            expect(await m.to.storage.get(key)).toEqual(before);
          }
        }
        for (const m of held.splice(0)) await deliver(m);
        for (const count of received.values()) expect(count).toBe(1);
        expect(received.size).toBe(n);
      }),
      { numRuns: 10 },
    );
  }, 120_000);
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
