// Deleting a chat on this device (spec/protocol.md §16.4: Delete chat, and blocking here) while
// other stores of that chat are under way: a sync copy, a message or a receipt from the contact, a seal, an
// upload or download, a failing or resealed send, a message typed meanwhile. Nothing of them
// outlives the chat (no orphan row, no hidden outbox item that would hold a later chat with the
// same contact), and a message is still stored at once. Real Messengers against the real relay;
// each test failed before its fix (found by second readers). "Not sent" is read off the outbox
// after a pass has run, never waited for.
// @vitest-environment node
import { expect, it, onTestFinished, vi } from 'vitest';
import { until } from '../../../scripts/lib/until.mjs';
import { RECORD as OUTBOX, type StoredMessage } from '../outbox/records.ts';
import { RECORD } from '../secure/records.ts';
import { StorageLockedError, type WriteOp } from '../storage/storage.ts';
import { device, linked, pair, setUpRelayDevices, start, stateOf, texts } from '../test/messenger-devices.ts';
import { registerOnRelay } from '../test/relay.ts';
import {
  contactOf,
  duringWrite,
  failSends,
  hasContact,
  holdCalls,
  holdUntilReleased,
  laptopPhoneAndBob,
  passBetweenDeletionWrites,
  queuePhoto,
  unavailable,
  watchLocks,
} from '../test/store-races.ts';
import { ApiError } from '../transport/errors.ts';
import { SocketFirst } from '../transport/socket-first.ts';

setUpRelayDevices();

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
  const [alice, carol] = await pair(['zc', 'zd']);
  const c = carol.user.username;
  const sends = failSends(unavailable());
  // The first send to carol fetches her bundles inside the chat's lock; that request waits
  // until the user's Delete chat has begun.
  const gate = holdCalls(alice.api, 'bundles', (args) => args[0] === c);
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
  const gate = holdCalls(bob.api.http, 'send', (args) => String(args[1]).startsWith('/get_photo/'));
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
  const gate = holdCalls(alice.api.http, 'send', (args) => String(args[1]).startsWith('/send_photo'));
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
  const [alice, carol] = await pair(['ql', 'qm']);
  const [a, c] = [alice.user.username, carol.user.username];
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
  const gate = holdCalls(alice.api, 'bundles', (args) => args[0] === c);
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
  const gate = holdCalls(SocketFirst.prototype, 'sendMessage', (args) => args[0] === c);
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
  expect(gate.entered).toBe(true);
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
  const [alice, carol] = await pair(['qc', 'qd']);
  const c = carol.user.username;
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

it('a delivery receipt handled while its chat is deleted does not write the message back into it', async () => {
  const [alice, bob] = await pair(['qm', 'qn']);
  const b = bob.user.username;
  const chatId = alice.m.sm.knownPeer(b)?.chatId ?? '';
  // Bob is away, so the receipt comes only once the message is sent and the read below is held.
  bob.m.stop();
  const id = await alice.m.sendText(b, 'delivered while deleted');
  await until(() => stateOf(alice, b, id) === 'sent', 'the message is sent');
  // The receipt's handling read the message, then the user deleted the chat before its write.
  const deleting = duringWrite(
    alice,
    (ops) => ops.some((op) => op.kind === 'putMessage' && (op.value as StoredMessage).state === 'delivered'),
    chatId,
    () => alice.m.removeContact(b),
  );
  await start(bob.user, bob.api, bob.storage);
  await until(() => deleting.started() !== null, 'the receipt reached alice');
  await deleting.started();
  await until(deleting.written, 'the receipt’s write');
  expect(await alice.storage.messages(chatId)).toEqual([]);
  expect(await alice.storage.getMessage(id)).toBeUndefined();
});
