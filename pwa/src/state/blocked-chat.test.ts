// A chat marked blocked from another device (spec/protocol.md §16.4, SECURITY.md "Blocking"):
// nothing reaches the contact from it by any path the outbox has, a linked device keeps it, and
// a chat an incoming message re-opens is marked from its first write. Also: a request the list
// converts while a message is stored, and adding someone while their first message or a sync copy
// to them is stored, leave one chat. Real Messengers against the real relay; each test failed
// before its fix (found by second readers). "Not sent" is read off the outbox after a pass has run
// (flush, retry), never waited for.
// @vitest-environment node
import { expect, it, onTestFinished, vi } from 'vitest';
import { until } from '../../../scripts/lib/until.mjs';
import type { StoredMessage } from '../outbox/records.ts';
import { openIdbStorage } from '../storage/idb-storage.ts';
import type { WriteOp } from '../storage/storage.ts';
import {
  type Device,
  device,
  pair,
  setUpRelayDevices,
  start,
  stateOf,
  texts,
} from '../test/messenger-devices.ts';
import { registerOnRelay } from '../test/relay.ts';
import {
  blockedWhileQueuedOnPhone,
  contactOf,
  duringRequestStore,
  duringWrite,
  failSends,
  hasContact,
  holdCalls,
  internals,
  isBlocked,
  laptopPhoneAndBob,
  peerWrites,
  unavailable,
} from '../test/store-races.ts';
import { ApiError } from '../transport/errors.ts';
import { collectPayload, importPayload } from './devices.ts';
import { encodePayload, parsePayload } from './provisioning-payload.ts';

setUpRelayDevices();

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
  holdCalls(laptop.api, 'blocks');
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
