// A chat marked blocked from another device (spec/protocol.md §16.4, SECURITY.md "Blocking"):
// nothing reaches the contact from it by any path the outbox has, a linked device keeps it, and
// deleting or blocking a chat here takes what still waits for it out of the outbox. Real
// Messengers against the real relay; each test failed before its fix (found by second readers).
// Also: deleting a chat takes its photo bytes and read mark, and nothing of a send or sync copy
// in flight outlives it; adding someone while their first message is stored leaves one chat.
// "Not sent" is read off the outbox after a pass has run (flush, retry), never waited for.
// @vitest-environment node
import { expect, it, onTestFinished, vi } from 'vitest';
import { until } from '../../../scripts/lib/until.mjs';
import { RECORD as OUTBOX, type StoredMessage } from '../outbox/records.ts';
import { tinyJpeg } from '../photo/exif-fixture.ts';
import { RECORD, type StoredPeer } from '../secure/records.ts';
import { openIdbStorage } from '../storage/idb-storage.ts';
import { StorageLockedError, type WriteOp } from '../storage/storage.ts';
import {
  type Device,
  device,
  linked,
  pair,
  setUpRelayDevices,
  start,
  stateOf,
  texts,
} from '../test/messenger-devices.ts';
import { registerOnRelay } from '../test/relay.ts';
import { ApiError } from '../transport/errors.ts';
import { SocketFirst } from '../transport/socket-first.ts';
import { collectPayload, importPayload } from './devices.ts';
import type { Outgoing } from './messenger/outgoing.ts';
import { encodePayload, parsePayload } from './provisioning-payload.ts';

setUpRelayDevices();

const hasContact = (d: Device, name: string) => d.sinks.contacts.value.some((c) => c.username === name);
const contactOf = (d: Device, name: string) => d.sinks.contacts.value.find((c) => c.username === name);
const isBlocked = (d: Device, name: string) => contactOf(d, name)?.blocked === true;

// The Messenger's internals a test reaches (private in TypeScript, reachable at run time).
interface Internals {
  outgoing: Outgoing;
  applyContactLists(): Promise<void>;
}
const internals = (d: Device) => d.m as unknown as Internals;

/**
 * Every send any device makes from now on is counted, and fails with `err` until stop(): a 503
 * leaves the message sealed and queued for a resend, a 400 fails it with a retry button. Failing
 * all along, not only once, so the outbox's own retry cannot send it behind the test's back.
 */
function failSends(err: ApiError) {
  const real = SocketFirst.prototype.sendMessage;
  let failing = true;
  const clientIds: string[] = [];
  const spy = vi.spyOn(SocketFirst.prototype, 'sendMessage').mockImplementation(function (
    this: SocketFirst,
    ...args
  ) {
    clientIds.push(args[1]);
    return failing ? Promise.reject(err) : real.apply(this, args);
  });
  onTestFinished(() => spy.mockRestore());
  return {
    attempts: () => clientIds.length,
    failed: () => clientIds.length >= 1,
    stop: () => {
      failing = false;
    },
    clientIds,
  };
}

const unavailable = () => new ApiError(503, 'unavailable', 'a transient failure');

/** A point a request stops at (hold) until the test releases it; `entered` once one has. */
function holdUntilReleased() {
  let release = () => {};
  const opened = new Promise<void>((r) => {
    release = r;
  });
  const gate = {
    entered: false,
    release: () => release(),
    hold: () => {
      gate.entered = true;
      return opened;
    },
  };
  return gate;
}

/**
 * Runs `act` inside the first write of `d` that `matches`; the write goes on once `act` has
 * finished or has asked for the lock `lockKey`, which the writer may be holding. `started` gives
 * `act`'s promise, null until the write came; `written`, whether that write has completed.
 */
function duringWrite(
  d: Device,
  matches: (ops: readonly WriteOp[]) => boolean,
  lockKey: string,
  act: () => Promise<void>,
) {
  const locks = watchLocks(d);
  const realWrite = d.storage.write.bind(d.storage);
  let started: Promise<void> | null = null;
  let written = false;
  const write = vi.spyOn(d.storage, 'write').mockImplementation(async (ops: readonly WriteOp[], options) => {
    if (started || !matches(ops)) return realWrite(ops, options);
    const asked = locks.nextRequest(lockKey);
    started = act();
    await Promise.race([started, asked]);
    await realWrite(ops, options);
    written = true;
  });
  onTestFinished(() => write.mockRestore());
  return { started: () => started, written: () => written };
}

/** Watches `d`'s SessionManager's locks: which are held now, and when one is next asked for. */
function watchLocks(d: Device) {
  const locks = (
    d.m.sm as unknown as {
      locks: { run: (key: string, task: () => Promise<unknown>) => Promise<unknown> };
    }
  ).locks;
  const realRun = locks.run.bind(locks);
  const held = new Set<string>();
  let waiters: { key: string; resolve: () => void }[] = [];
  const run = vi.spyOn(locks, 'run').mockImplementation((key, task) => {
    for (const w of waiters) if (w.key === key) w.resolve();
    waiters = waiters.filter((w) => w.key !== key);
    return realRun(key, async () => {
      held.add(key);
      try {
        return await task();
      } finally {
        held.delete(key);
      }
    });
  });
  onTestFinished(() => run.mockRestore());
  return {
    held: (key: string) => held.has(key),
    nextRequest: (key: string) => new Promise<void>((resolve) => waiters.push({ key, resolve })),
  };
}

/**
 * duringWrite at the write by which `d` stores a message from `name` that keeps them a message
 * request (the store read the peer under its lock and writes it back).
 */
function duringRequestStore(d: Device, name: string, lockKey: string, act: () => Promise<void>) {
  const storesRequest = (ops: readonly WriteOp[]) =>
    ops.some(
      (op) =>
        op.kind === 'put' &&
        (op.value as Partial<StoredPeer> | undefined)?.username === name &&
        (op.value as StoredPeer).request === true,
    ) && ops.some((op) => op.kind === 'putMessage');
  return duringWrite(d, storesRequest, lockKey, act).started;
}

/**
 * Opens `gate` and lets `d`'s outbox run a pass between the two writes of its next chat deletion:
 * the peer and its outbox items deleted, the chat's rows not yet.
 */
function passBetweenDeletionWrites(d: Device, gate: { release: () => void }) {
  const realDeleteChat = d.storage.deleteChat.bind(d.storage);
  const deleteChat = vi.spyOn(d.storage, 'deleteChat').mockImplementation(async (chat) => {
    gate.release();
    await d.m.outbox.flush();
    return realDeleteChat(chat);
  });
  onTestFinished(() => deleteChat.mockRestore());
}

/** Every peer record of `name` that `d`'s store is asked to write from now on. */
function peerWrites(d: Device, name: string): StoredPeer[] {
  const written: StoredPeer[] = [];
  const realWrite = d.storage.write.bind(d.storage);
  const write = vi.spyOn(d.storage, 'write').mockImplementation(async (ops, options) => {
    for (const op of ops)
      if (op.kind === 'put' && (op.value as Partial<StoredPeer> | undefined)?.username === name)
        written.push(op.value as StoredPeer);
    return realWrite(ops, options);
  });
  onTestFinished(() => write.mockRestore());
  return written;
}

/** Alice's laptop and phone, and bob, the contact of both; bob's chat is on the phone. */
async function laptopPhoneAndBob(prefixes: [string, string]) {
  const [laptop, bob] = await pair(prefixes);
  const phone = await linked(laptop);
  await until(() => hasContact(phone, bob.user.username), 'the phone has bob');
  return { laptop, phone, bob, b: bob.user.username };
}

/**
 * laptopPhoneAndBob, then: the phone queues 'queued before the block' for bob while every send
 * fails (`sends`, until its stop()), and the laptop blocks bob, which the phone does not hear of
 * (its list reads name no block).
 */
async function blockedWhileQueuedOnPhone(prefixes: [string, string]) {
  const devices = await laptopPhoneAndBob(prefixes);
  const { laptop, phone, b } = devices;
  const sends = failSends(unavailable());
  const queued = await phone.m.sendText(b, 'queued before the block');
  await until(() => sends.failed() && stateOf(phone, b, queued) === 'queued', 'the first attempt failed');
  const phoneBlocks = vi.spyOn(phone.api, 'blocks').mockResolvedValue([]);
  onTestFinished(() => phoneBlocks.mockRestore());
  await laptop.m.blockContact(b);
  return { ...devices, sends };
}

it('a sealed message waiting for its resend is held once the chat is marked blocked, and goes if unblocked', async () => {
  const { laptop, phone, bob, b } = await laptopPhoneAndBob(['ya', 'yb']);
  const sends = failSends(unavailable());
  const id = await phone.m.sendText(b, 'waiting in the outbox');
  await until(() => sends.failed() && stateOf(phone, b, id) === 'queued', 'the first attempt failed');
  await laptop.m.blockContact(b);
  await until(() => isBlocked(phone, b), 'the phone marks bob blocked');
  const before = sends.attempts();
  await phone.m.outbox.flush();
  expect(sends.attempts()).toBe(before);
  expect(stateOf(phone, b, id)).toBe('queued');
  // Nothing went, so no sync copy brought the chat back on the laptop, where bob was blocked.
  expect(hasContact(laptop, b)).toBe(false);
  sends.stop();
  await phone.m.unblock(b);
  await until(
    () => texts(bob, laptop.user.username).includes('waiting in the outbox'),
    'sent once unblocked',
  );
});

it('Retry of a failed message in a chat marked blocked holds it instead of sending it', async () => {
  const { laptop, phone, b } = await laptopPhoneAndBob(['yc', 'yd']);
  const sends = failSends(new ApiError(400, 'bad_request', 'refused'));
  const id = await phone.m.sendText(b, 'failed before the block');
  await until(() => stateOf(phone, b, id) === 'failed', 'the send failed');
  await laptop.m.blockContact(b);
  await until(() => isBlocked(phone, b), 'the phone marks bob blocked');
  const before = sends.attempts();
  await phone.m.retry(id);
  expect(sends.attempts()).toBe(before);
  expect(stateOf(phone, b, id)).toBe('queued');
});

it('a device linked from one with a marked chat keeps that chat, marked, with its history', async () => {
  const [alice, bob] = await pair(['ye', 'yf']);
  const b = bob.user.username;
  await bob.m.sendText(alice.user.username, 'history with bob');
  await until(() => texts(alice, b).includes('history with bob'), 'bob’s message');
  // A hostile relay lists bob as blocked (alice never blocked him): the chat is marked.
  const blocks = vi
    .spyOn(alice.api, 'blocks')
    .mockResolvedValue([{ username: b, blockedAt: new Date().toISOString() }]);
  onTestFinished(() => blocks.mockRestore());
  await alice.m.syncContacts();
  expect(isBlocked(alice, b)).toBe(true);
  // The payload a link carries (devices.ts), imported into a new device's store.
  const fresh = await openIdbStorage(`blocked-chat-${crypto.randomUUID()}`);
  await importPayload(fresh, parsePayload(encodePayload(await collectPayload(alice.storage, true))));
  const newDevice = await start(alice.user, alice.api, fresh, { online: false });
  expect(isBlocked(newDevice, b)).toBe(true);
  expect(texts(newDevice, b)).toEqual(['history with bob']);
});

it.each([
  ['deleting a chat marked blocked', async (d: Device, b: string) => d.m.removeContact(b)],
  ['blocking a contact on this device', async (d: Device, b: string) => d.m.blockContact(b)],
])('%s takes what waits for them out of the outbox: nothing reaches them later', async (_what, act) => {
  const { laptop, phone, b } = await laptopPhoneAndBob(['ym', 'yn']);
  const sends = failSends(unavailable());
  const id = await phone.m.sendText(b, 'sealed, waiting');
  await until(() => sends.failed() && stateOf(phone, b, id) === 'queued', 'the first attempt failed');
  await laptop.m.blockContact(b);
  await until(() => isBlocked(phone, b), 'the phone marks bob blocked');
  await act(phone, b);
  expect(hasContact(phone, b)).toBe(false);
  expect((await phone.m.outbox.pending()).filter((item) => item.contact === b)).toEqual([]);
  const before = sends.attempts();
  await phone.m.outbox.flush();
  expect(sends.attempts()).toBe(before);
});

it('Unblock in a marked chat clears the mark when another device unblocked first (DELETE /blocks answers 404)', async () => {
  const { laptop, phone, b } = await laptopPhoneAndBob(['yk', 'yl']);
  await laptop.m.blockContact(b);
  await until(() => isBlocked(phone, b), 'the phone marks bob blocked');
  // The phone's reads of the lists fail for now; the laptop unblocks bob meanwhile.
  const blocks = vi.spyOn(phone.api, 'blocks').mockRejectedValue(unavailable());
  onTestFinished(() => blocks.mockRestore());
  await laptop.m.unblock(b);
  await phone.m.unblock(b);
  expect(isBlocked(phone, b)).toBe(false);
});

it('a sync copy from a device that had not heard of the block gives the device that blocked a chat marked blocked, which sends nothing', async () => {
  const { laptop, phone, b, sends } = await blockedWhileQueuedOnPhone(['za', 'zb']);
  expect(hasContact(laptop, b)).toBe(false);
  // The phone sends what it queued; its sync copy reaches the laptop, which opens a chat for it
  // and reads the lists at once: they name bob.
  sends.stop();
  await phone.m.outbox.flush();
  await until(() => isBlocked(laptop, b), 'the chat the sync copy opened is marked blocked');
  const id = await laptop.m.sendText(b, 'from the device that blocked bob');
  await laptop.m.outbox.flush();
  expect(stateOf(laptop, b, id)).toBe('queued');
});

it('a chat a sync copy re-opens on the device that blocked the contact is marked in the very write that opens it', async () => {
  const { laptop, phone, b, sends } = await blockedWhileQueuedOnPhone(['zu', 'zv']);
  // Every peer record of bob the laptop writes from now on: none may be unmarked, not even for the
  // round trip of the list read the new chat asks for.
  const written = peerWrites(laptop, b);
  sends.stop();
  await phone.m.outbox.flush();
  await until(() => texts(laptop, b).includes('queued before the block'), 'the sync copy');
  expect(written.length).toBeGreaterThan(0);
  expect(written.filter((p) => p.blocked !== true)).toEqual([]);
});

it('after a reload, a chat a sync copy re-opens on the device that blocked the contact is marked before the lists are read again', async () => {
  const { laptop, phone, b, sends } = await blockedWhileQueuedOnPhone(['zz', 'zo']);
  // The laptop's app is opened again; its first read of the lists is slow, and the mailbox is
  // read meanwhile.
  laptop.m.stop();
  const gate = holdUntilReleased();
  const realBlocks = laptop.api.blocks.bind(laptop.api);
  const laptopBlocks = vi.spyOn(laptop.api, 'blocks').mockImplementation(async () => {
    await gate.hold();
    return realBlocks();
  });
  onTestFinished(() => {
    gate.release();
    laptopBlocks.mockRestore();
  });
  const written = peerWrites(laptop, b);
  const again = await start(laptop.user, laptop.api, laptop.storage);
  sends.stop();
  await phone.m.outbox.flush();
  await until(() => texts(again, b).includes('queued before the block'), 'the sync copy');
  expect(written.length).toBeGreaterThan(0);
  expect(written.filter((p) => p.blocked !== true)).toEqual([]);
});

it('adding someone while a sync copy of a message to them opens their chat leaves one chat', async () => {
  const { laptop, phone } = await laptopPhoneAndBob(['zw', 'zx']);
  const dave = await device(await registerOnRelay('zy'));
  const d = dave.user.username;
  // The phone hears of dave only from the sync copy (its list reads leave him out).
  const listed = await phone.api.contacts();
  const contacts = vi.spyOn(phone.api, 'contacts').mockResolvedValue(listed);
  onTestFinished(() => contacts.mockRestore());
  const storesSyncCopy = (ops: readonly WriteOp[]) =>
    ops.some(
      (op) =>
        op.kind === 'putMessage' &&
        (op.value as Partial<StoredMessage>).contact === d &&
        (op.value as Partial<StoredMessage>).synced === true,
    );
  const adding = duringWrite(phone, storesSyncCopy, `new-peer:${d}`, () => phone.m.addContact(d));
  await laptop.m.addContact(d);
  await laptop.m.sendText(d, 'from the laptop to dave');
  await until(() => adding.started() !== null, 'the sync copy is being stored');
  await adding.started();
  await until(adding.written, 'the sync copy’s write');
  const records = (await phone.m.sm.peers()).filter((p) => p.username === d);
  expect(records).toHaveLength(1);
  expect(texts(phone, d)).toEqual(['from the laptop to dave']);
});

it('a sync copy stored while the chat is being deleted is deleted with it, not left behind in a chat no one can open', async () => {
  const { laptop, phone, b } = await laptopPhoneAndBob(['zs', 'zt']);
  const chatId = phone.m.sm.knownPeer(b)?.chatId ?? '';
  // The phone deletes bob's chat while it stores the sync copy of the laptop's message to bob:
  // the sync copy's store read the chat's peer record before the deletion began.
  const deleting = duringWrite(
    phone,
    (ops) => ops.some((op) => op.kind === 'putMessage' && op.chat === chatId),
    chatId,
    () => phone.m.removeContact(b),
  );
  await laptop.m.sendText(b, 'sent from the laptop');
  await until(() => deleting.started() !== null, 'the sync copy is being stored');
  await deleting.started();
  await until(deleting.written, 'the sync copy’s write');
  expect(await phone.storage.messages(chatId)).toEqual([]);
  expect(await phone.storage.get(RECORD.syncedOrder(chatId))).toBeUndefined();
});

it('deleting a chat while its first message is being sealed leaves nothing in the outbox to resend if the contact comes back', async () => {
  const alice = await device(await registerOnRelay('zc'));
  const carol = await device(await registerOnRelay('zd'));
  const c = carol.user.username;
  await alice.m.addContact(c);
  await carol.m.addContact(alice.user.username);
  const sends = failSends(unavailable());
  // The first send to carol fetches her bundles inside the chat's lock; that request waits
  // until the user's Delete chat has begun.
  const gate = holdUntilReleased();
  const realBundles = alice.api.bundles.bind(alice.api);
  const bundles = vi.spyOn(alice.api, 'bundles').mockImplementation(async (...args) => {
    if (args[0] === c) await gate.hold();
    return realBundles(...args);
  });
  onTestFinished(() => bundles.mockRestore());
  const id = await alice.m.sendText(c, 'written, then the chat deleted');
  await until(() => gate.entered, 'sealing fetches carol’s bundles');
  const removal = alice.m.removeContact(c);
  gate.release();
  await removal;
  await alice.m.outbox.flush();
  expect(hasContact(alice, c)).toBe(false);
  expect((await alice.m.outbox.pending()).filter((i) => i.contact === c)).toEqual([]);
  // The user adds carol again: the deleted chat's ciphertext does not go out.
  await alice.m.addContact(c);
  await alice.m.outbox.flush();
  expect(sends.clientIds.filter((x) => x === id).length).toBeLessThanOrEqual(1);
});

it('a request the list converts while a message from its sender is being stored stays converted, with one entry saying so', async () => {
  const alice = await device(await registerOnRelay('ze'));
  const carol = await device(await registerOnRelay('zf'));
  const a = alice.user.username;
  const c = carol.user.username;
  await carol.m.addContact(a);
  await carol.m.sendText(a, 'first');
  await until(() => texts(alice, c).includes('first'), 'the request arrives');
  expect(contactOf(alice, c)?.request).toBe(true);
  // Accepted on another device: the relay's contact list names carol.
  await alice.api.addContact(c);
  // The lists are read while carol's next message is being stored: the store has read the
  // peer (a request) under the chat's lock and is writing it back. The write waits until the
  // read of the lists has either finished or asked for that chat's lock.
  const chatId = alice.m.sm.knownPeer(c)?.chatId;
  const interleaved = duringRequestStore(alice, c, chatId ?? '', () => internals(alice).applyContactLists());
  await carol.m.sendText(a, 'second');
  await until(() => texts(alice, c).includes('second'), 'the second message');
  expect(interleaved()).not.toBeNull();
  await interleaved();
  expect(contactOf(alice, c)?.request).toBeUndefined();
  await internals(alice).applyContactLists();
  expect(alice.sinks.messages(c).value.filter((m) => m.body.kind === 'acceptedElsewhere')).toHaveLength(1);
});

/** Queues a photo from `from` to `to` as Outgoing.sendPhoto stores one (preparePhoto needs a canvas). */
async function queuePhoto(from: Device, to: string): Promise<string> {
  const peer = from.m.sm.knownPeer(to);
  if (!peer) throw new Error('no peer');
  const bytes = tinyJpeg();
  const prepared = { bytes, width: 16, height: 8, mime: 'image/jpeg' as const, thumbnail: new Uint8Array(0) };
  const id = crypto.randomUUID();
  const now = Date.now();
  await from.m.outbox.enqueue(
    {
      id,
      contact: to,
      direction: 'out',
      at: now,
      storedAt: now,
      state: 'queued',
      body: {
        kind: 'photo',
        photo: {
          mime: 'image/jpeg',
          width: 16,
          height: 8,
          size: bytes.length,
          blobId: null,
          ciphertextSha256: null,
          thumbnail: new Uint8Array(0),
        },
      },
    },
    { id, contact: to, chatId: peer.chatId, kind: 'photo', createdAt: now, wire: null, failed: null },
    [
      { kind: 'put', key: OUTBOX.photo(id), value: { mime: 'image/jpeg', bytes } },
      { kind: 'put', key: OUTBOX.outgoingPhoto(id), value: prepared },
    ],
  );
  return id;
}

it('deleting a chat deletes its photo bytes and read mark too', async () => {
  const [alice, bob] = await pair(['zg', 'zh']);
  const b = bob.user.username;
  const chatId = alice.m.sm.knownPeer(b)?.chatId ?? '';
  const id = await queuePhoto(alice, b);
  await until(() => stateOf(alice, b, id) === 'sent', 'the photo is sent');
  alice.m.markRead(b);
  await vi.waitFor(async () => expect(await alice.storage.get(OUTBOX.chatMeta(chatId))).toBeDefined());
  await alice.m.removeContact(b);
  expect(hasContact(alice, b)).toBe(false);
  expect(await alice.storage.get(OUTBOX.photo(id))).toBeUndefined();
  expect(await alice.storage.get(OUTBOX.chatMeta(chatId))).toBeUndefined();
});

it('a photo downloading while its chat is deleted is not written back into it', async () => {
  const [alice, bob] = await pair(['qa', 'qb']);
  const a = alice.user.username;
  await queuePhoto(alice, bob.user.username);
  await until(
    () => bob.sinks.messages(a).value.some((x) => x.body.kind === 'photo'),
    'the photo reaches bob',
  );
  const id = bob.sinks.messages(a).value.find((x) => x.body.kind === 'photo')?.id ?? '';
  const chatId = bob.m.sm.knownPeer(a)?.chatId ?? '';
  // The download waits until the user has deleted the chat.
  const gate = holdUntilReleased();
  const realSend = bob.api.http.send.bind(bob.api.http);
  const send = vi.spyOn(bob.api.http, 'send').mockImplementation(async (...args) => {
    if (String(args[1]).startsWith('/get_photo/')) await gate.hold();
    return realSend(...args);
  });
  onTestFinished(() => send.mockRestore());
  const loading = bob.m.loadPhoto(id);
  await until(() => gate.entered, 'the download started');
  await bob.m.removeContact(a);
  gate.release();
  await loading;
  expect(await bob.storage.messages(chatId)).toEqual([]);
  expect(await bob.storage.get(OUTBOX.photo(id))).toBeUndefined();
  expect(await bob.storage.getMessage<StoredMessage>(id)).toBeUndefined();
});

it('a photo whose upload finishes while its chat is deleted leaves nothing of it in the store', async () => {
  const [alice, bob] = await pair(['qe', 'qf']);
  const b = bob.user.username;
  // The upload waits until the user has deleted the chat.
  const gate = holdUntilReleased();
  const realSend = alice.api.http.send.bind(alice.api.http);
  const send = vi.spyOn(alice.api.http, 'send').mockImplementation(async (...args) => {
    if (String(args[1]).startsWith('/send_photo')) await gate.hold();
    return realSend(...args);
  });
  onTestFinished(() => send.mockRestore());
  const id = await queuePhoto(alice, b);
  await until(() => gate.entered, 'the upload started');
  // The upload ends, and its send handles the cancellation, between the deletion's two writes.
  passBetweenDeletionWrites(alice, gate);
  await alice.m.removeContact(b);
  const left = [
    OUTBOX.outboxPrefix,
    OUTBOX.outgoingPhotoPrefix,
    OUTBOX.uploadedPhotoPrefix,
    OUTBOX.photo(''),
  ];
  for (const prefix of left) expect(await alice.storage.list(prefix), prefix).toEqual([]);
  expect(await alice.storage.getMessage(id)).toBeUndefined();
});

it('a message the running pass reaches between the deletion’s two writes is not written back as a hidden failed item', async () => {
  const alice = await device(await registerOnRelay('qi'));
  const bob = await device(await registerOnRelay('qj'));
  const carol = await device(await registerOnRelay('qk'));
  const [a, b, c] = [alice.user.username, bob.user.username, carol.user.username];
  await alice.m.addContact(c);
  await carol.m.addContact(a);
  await alice.m.addContact(b);
  await bob.m.addContact(a);
  // Sends fail (503) while both messages are queued, carol's first; then carol's send is held.
  let mode: 'fail' | 'holdCarol' = 'fail';
  const gate = holdUntilReleased();
  const real = SocketFirst.prototype.sendMessage;
  const spy = vi.spyOn(SocketFirst.prototype, 'sendMessage').mockImplementation(async function (
    this: SocketFirst,
    ...args
  ) {
    if (mode === 'fail') throw unavailable();
    if (args[0] === c) await gate.hold();
    return real.apply(this, args);
  });
  onTestFinished(() => spy.mockRestore());
  await alice.m.sendText(c, 'to carol');
  const toBob = await alice.m.sendText(b, 'to bob');
  await alice.m.outbox.flush();
  expect(stateOf(alice, b, toBob)).toBe('queued');
  mode = 'holdCarol';
  void alice.m.outbox.flush();
  await until(() => gate.entered, 'carol’s send is in flight');
  // Bob's item is in the running pass's list but not in flight; the pass reaches it between the
  // deletion's two writes.
  passBetweenDeletionWrites(alice, gate);
  await alice.m.removeContact(b);
  expect((await alice.m.outbox.pending()).filter((i) => i.contact === b)).toEqual([]);
  // So bob, added again, gets what the new chat sends.
  await alice.m.addContact(b);
  const next = await alice.m.sendText(b, 'in the new chat');
  await until(() => texts(bob, a).includes('in the new chat'), 'the new chat’s message');
  expect(stateOf(alice, b, next)).toMatch(/sent|delivered/);
});

it('a send that fails while its chat is being deleted writes nothing back: no hidden failed item holds the contact’s later messages', async () => {
  const alice = await device(await registerOnRelay('ql'));
  const carol = await device(await registerOnRelay('qm'));
  const [a, c] = [alice.user.username, carol.user.username];
  await alice.m.addContact(c);
  await carol.m.addContact(a);
  const chatId = alice.m.sm.knownPeer(c)?.chatId ?? '';
  const sends = failSends(new ApiError(400, 'bad_request', 'refused'));
  const locks = watchLocks(alice);
  // The user deletes the chat while the failure is being recorded: after the outbox read the
  // message, before it wrote the failed state and item (the failure reads the outbox item, then
  // the message). The deletion runs to its end there, unless the recording holds the chat's lock:
  // then the read goes on once the deletion has asked for it.
  let deletion: Promise<void> | null = null;
  let id = '';
  let itemRead = false;
  const realGet = alice.storage.get.bind(alice.storage);
  const get = vi.spyOn(alice.storage, 'get').mockImplementation(async (key: string) => {
    if (key === OUTBOX.outbox(id) && sends.failed()) itemRead = true;
    return realGet(key);
  });
  onTestFinished(() => get.mockRestore());
  const realGetMessage = alice.storage.getMessage.bind(alice.storage);
  const getMessage = vi.spyOn(alice.storage, 'getMessage').mockImplementation(async (key: string) => {
    const row = await realGetMessage(key);
    if (key === id && itemRead && !deletion) {
      const asked = locks.nextRequest(chatId);
      deletion = alice.m.removeContact(c);
      await (locks.held(chatId) ? Promise.race([deletion, asked]) : deletion);
    }
    return row;
  });
  onTestFinished(() => getMessage.mockRestore());
  id = await alice.m.sendText(c, 'refused');
  await until(() => deletion !== null, 'the deletion began while the failure was recorded');
  await deletion;
  await alice.m.outbox.flush();
  expect(hasContact(alice, c)).toBe(false);
  expect(await alice.m.outbox.pending()).toEqual([]);
  expect(await alice.storage.messages(chatId)).toEqual([]);
  // So carol, added again, gets what the new chat sends.
  sends.stop();
  await alice.m.addContact(c);
  await alice.m.sendText(c, 'in the new chat');
  await until(() => texts(carol, a).includes('in the new chat'), 'the new chat’s message');
});

it('a message from the contact stored while their chat is deleted opens a new chat, as a request', async () => {
  const [alice, bob] = await pair(['qn', 'qo']);
  const [a, b] = [alice.user.username, bob.user.username];
  const chatId = alice.m.sm.knownPeer(b)?.chatId ?? '';
  const locks = watchLocks(alice);
  // The deletion waits, before its commit, until bob's next message, looked up in the chat being
  // deleted, asks for that chat's lock.
  let held = false;
  const realList = alice.storage.list.bind(alice.storage);
  const list = vi.spyOn(alice.storage, 'list').mockImplementation(async (prefix: string) => {
    if (prefix === RECORD.sessionsOf(chatId) && !held) {
      held = true;
      const asked = locks.nextRequest(chatId);
      void bob.m.sendText(a, 'hi again');
      await asked;
    }
    return realList(prefix);
  });
  onTestFinished(() => list.mockRestore());
  await alice.m.removeContact(b);
  await until(() => texts(alice, b).includes('hi again'), 'bob’s message');
  expect(await alice.storage.messages(chatId)).toEqual([]);
  expect(contactOf(alice, b)?.request).toBe(true);
});

it('a message typed while the chat’s first seal waits for the relay’s bundles is stored at once', async () => {
  const alice = await device(await registerOnRelay('qr'));
  const carol = await device(await registerOnRelay('qs'));
  const c = carol.user.username;
  await alice.m.addContact(c);
  // The relay is slow to answer the first seal's bundle fetch (held here), which holds the chat's
  // lock meanwhile.
  const gate = holdUntilReleased();
  const realBundles = alice.api.bundles.bind(alice.api);
  const bundles = vi.spyOn(alice.api, 'bundles').mockImplementation(async (...args) => {
    if (args[0] === c) await gate.hold();
    return realBundles(...args);
  });
  onTestFinished(() => {
    gate.release();
    bundles.mockRestore();
  });
  await alice.m.sendText(c, 'first');
  await until(() => gate.entered, 'the first seal fetches carol’s bundles');
  // The composer clears its text as it calls sendText: the message must be stored by then.
  let stored = false;
  const second = alice.m.sendText(c, 'second').then(() => {
    stored = true;
  });
  await until(() => stored, 'the second message stored while the network is slow', { timeoutMs: 5_000 });
  expect(texts(alice, c)).toEqual(['first', 'second']);
  gate.release();
  await second;
});

it('a message sealed before linked devices, refused as stale while its chat is deleted, leaves no outbox item behind', async () => {
  const alice = await device(await registerOnRelay('qt'));
  const carol = await device(await registerOnRelay('qu'));
  const c = carol.user.username;
  await alice.m.addContact(c);
  // Alice has a second device now: a single ciphertext for carol's device 1 is stale (409).
  await linked(alice);
  const gate = holdUntilReleased();
  const real = SocketFirst.prototype.sendMessage;
  const spy = vi.spyOn(SocketFirst.prototype, 'sendMessage').mockImplementation(async function (
    this: SocketFirst,
    ...args
  ) {
    if (args[0] === c) await gate.hold();
    return real.apply(this, args);
  });
  onTestFinished(() => {
    gate.release();
    spy.mockRestore();
  });
  // An outbox item stored by a version from before linked devices: its wire is one ciphertext.
  const chatId = alice.m.sm.knownPeer(c)?.chatId ?? '';
  const id = crypto.randomUUID();
  const now = Date.now();
  await alice.m.outbox.enqueue(
    {
      id,
      contact: c,
      direction: 'out',
      at: now,
      storedAt: now,
      state: 'sending',
      body: { kind: 'text', text: 'old' },
    },
    { id, contact: c, chatId, kind: 'text', createdAt: now, wire: new Uint8Array(64).fill(7), failed: null },
  );
  await until(() => gate.entered, 'the old ciphertext is being sent');
  await alice.m.removeContact(c);
  gate.release();
  await alice.m.outbox.flush();
  expect(spy.mock.calls.length).toBeGreaterThan(0);
  // The relay answered 409 stale_devices after the deletion: nothing of the item is written back.
  expect(await alice.m.outbox.pending()).toEqual([]);
});

it('a message sent while its chat is being deleted, after the deletion listed the outbox, is taken out with the chat', async () => {
  const [alice, bob] = await pair(['qv', 'qw']);
  const [a, b] = [alice.user.username, bob.user.username];
  const chatId = alice.m.sm.knownPeer(b)?.chatId ?? '';
  // The deletion has listed the outbox and reads the chat's messages (for their photos) when
  // the user sends once more; sealing waits for the deletion's lock meanwhile.
  let sent: Promise<string> | null = null;
  const realMessages = alice.storage.messages.bind(alice.storage);
  const messages = vi.spyOn(alice.storage, 'messages').mockImplementation(async (chat, limit) => {
    if (chat === chatId && !sent) {
      sent = alice.m.sendText(b, 'sent during the deletion');
      await sent;
    }
    return realMessages(chat, limit);
  });
  onTestFinished(() => messages.mockRestore());
  await alice.m.removeContact(b);
  expect(sent).not.toBeNull();
  await alice.m.outbox.flush();
  expect(await alice.m.outbox.pending()).toEqual([]);
  expect(await alice.storage.messages(chatId)).toEqual([]);
  // Nothing of it reached bob: his next message from alice is the first he gets.
  await alice.m.addContact(b);
  await alice.m.sendText(b, 'in the new chat');
  await until(() => texts(bob, a).includes('in the new chat'), 'the new chat’s message');
  expect(texts(bob, a)).toEqual(['in the new chat']);
});

it('photo records whose message is no longer in the outbox are swept when the app opens', async () => {
  const [alice] = await pair(['qg', 'qh']);
  // What a crash between a send and its clean-up (or a deletion and an upload) leaves behind.
  await alice.storage.write([
    { kind: 'put', key: OUTBOX.outgoingPhoto('gone'), value: { bytes: new Uint8Array(3) } },
    { kind: 'put', key: OUTBOX.uploadedPhoto('gone'), value: new Uint8Array(3) },
  ]);
  alice.m.stop();
  await start(alice.user, alice.api, alice.storage, { online: false });
  expect(await alice.storage.get(OUTBOX.outgoingPhoto('gone'))).toBeUndefined();
  expect(await alice.storage.get(OUTBOX.uploadedPhoto('gone'))).toBeUndefined();
});

it('a Delete chat that fails half-way (the store locks) leaves the chat, with its queued message, in view', async () => {
  const alice = await device(await registerOnRelay('qc'));
  const carol = await device(await registerOnRelay('qd'));
  const c = carol.user.username;
  await alice.m.addContact(c);
  await carol.m.addContact(alice.user.username);
  const sends = failSends(unavailable());
  const id = await alice.m.sendText(c, 'deleted before it went');
  await until(() => sends.failed() && stateOf(alice, c, id) === 'queued', 'the first attempt failed');
  // The store locks (log out, idle lock) in the middle of Delete chat: the write that takes the
  // outbox item fails.
  const realWrite = alice.storage.write.bind(alice.storage);
  const write = vi.spyOn(alice.storage, 'write').mockImplementation(async (ops: readonly WriteOp[], o) => {
    if (ops.some((op) => op.kind === 'delete' && op.key === OUTBOX.outbox(id)))
      throw new StorageLockedError();
    return realWrite(ops, o);
  });
  await expect(alice.m.removeContact(c)).rejects.toBeInstanceOf(StorageLockedError);
  write.mockRestore();
  // Unlocked again: the chat is still there with its message, which the user sees — not a
  // hidden one that a contact added later under that name would be sent.
  alice.m.stop();
  const again = await start(alice.user, alice.api, alice.storage);
  expect(hasContact(again, c)).toBe(true);
  expect(stateOf(again, c, id)).toBe('queued');
});

it('adding someone while their first message is being stored leaves one chat with them, a contact', async () => {
  const alice = await device(await registerOnRelay('qe'));
  const carol = await device(await registerOnRelay('qf'));
  const a = alice.user.username;
  const c = carol.user.username;
  await carol.m.addContact(a);
  // The store of carol's first message (a new request, under the lock for a chat not made yet)
  // waits until the user's "add carol" has either finished or asked for that lock.
  const adding = duringRequestStore(alice, c, `new-peer:${c}`, () => alice.m.addContact(c));
  await carol.m.sendText(a, 'hello, first');
  await until(() => adding() !== null, 'the first message is being stored');
  await adding();
  await until(() => texts(alice, c).includes('hello, first'), 'the first message');
  const records = (await alice.m.sm.peers()).filter((p) => p.username === c);
  expect(records).toHaveLength(1);
  expect(records[0]?.request).toBeUndefined();
});
