// A chat marked blocked from another device (spec/protocol.md §16.4, SECURITY.md "Blocking"):
// nothing reaches the contact from it by any path the outbox has, a linked device keeps it, and
// deleting or blocking a chat here takes what still waits for it out of the outbox. Real
// Messengers against the real relay; each test failed before its fix (found by a second reader).
// "Not sent" is read off the outbox after a pass has run (flush, retry), never waited for.
// @vitest-environment node
import { expect, it, onTestFinished, vi } from 'vitest';
import { until } from '../../../scripts/lib/until.mjs';
import { openIdbStorage } from '../storage/idb-storage.ts';
import {
  type Device,
  linked,
  pair,
  setUpRelayDevices,
  start,
  stateOf,
  texts,
} from '../test/messenger-devices.ts';
import { ApiError } from '../transport/errors.ts';
import { SocketFirst } from '../transport/socket-first.ts';
import { collectPayload, importPayload } from './devices.ts';
import { encodePayload, parsePayload } from './provisioning-payload.ts';

setUpRelayDevices();

const hasContact = (d: Device, name: string) => d.sinks.contacts.value.some((c) => c.username === name);
const isBlocked = (d: Device, name: string) =>
  d.sinks.contacts.value.find((c) => c.username === name)?.blocked === true;

/**
 * Every send any device makes from now on is counted; the first one fails with `first` (a 503
 * leaves the message sealed and queued for a resend, a 400 fails it with a retry button).
 */
function failFirstSend(first: ApiError) {
  const real = SocketFirst.prototype.sendMessage;
  let calls = 0;
  const spy = vi.spyOn(SocketFirst.prototype, 'sendMessage').mockImplementation(function (
    this: SocketFirst,
    ...args
  ) {
    calls += 1;
    return calls === 1 ? Promise.reject(first) : real.apply(this, args);
  });
  onTestFinished(() => spy.mockRestore());
  return { sendsAfterTheFirst: () => Math.max(0, calls - 1), failed: () => calls >= 1 };
}

const unavailable = () => new ApiError(503, 'unavailable', 'a transient failure');

/** Alice's laptop and phone, and bob, the contact of both; bob's chat is on the phone. */
async function laptopPhoneAndBob(prefixes: [string, string]) {
  const [laptop, bob] = await pair(prefixes);
  const phone = await linked(laptop);
  await until(() => hasContact(phone, bob.user.username), 'the phone has bob');
  return { laptop, phone, bob, b: bob.user.username };
}

it('a sealed message waiting for its resend is held once the chat is marked blocked, and goes if unblocked', async () => {
  const { laptop, phone, bob, b } = await laptopPhoneAndBob(['ya', 'yb']);
  const sends = failFirstSend(unavailable());
  const id = await phone.m.sendText(b, 'waiting in the outbox');
  await until(() => sends.failed() && stateOf(phone, b, id) === 'queued', 'the first attempt failed');
  await laptop.m.blockContact(b);
  await until(() => isBlocked(phone, b), 'the phone marks bob blocked');
  await phone.m.outbox.flush();
  expect(sends.sendsAfterTheFirst()).toBe(0);
  expect(stateOf(phone, b, id)).toBe('queued');
  // Nothing went, so no sync copy brought the chat back on the laptop, where bob was blocked.
  expect(hasContact(laptop, b)).toBe(false);
  await phone.m.unblock(b);
  await until(
    () => texts(bob, laptop.user.username).includes('waiting in the outbox'),
    'sent once unblocked',
  );
});

it('Retry of a failed message in a chat marked blocked holds it instead of sending it', async () => {
  const { laptop, phone, b } = await laptopPhoneAndBob(['yc', 'yd']);
  const sends = failFirstSend(new ApiError(400, 'bad_request', 'refused'));
  const id = await phone.m.sendText(b, 'failed before the block');
  await until(() => stateOf(phone, b, id) === 'failed', 'the send failed');
  await laptop.m.blockContact(b);
  await until(() => isBlocked(phone, b), 'the phone marks bob blocked');
  await phone.m.retry(id);
  expect(sends.sendsAfterTheFirst()).toBe(0);
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
  const sends = failFirstSend(unavailable());
  const id = await phone.m.sendText(b, 'sealed, waiting');
  await until(() => sends.failed() && stateOf(phone, b, id) === 'queued', 'the first attempt failed');
  await laptop.m.blockContact(b);
  await until(() => isBlocked(phone, b), 'the phone marks bob blocked');
  await act(phone, b);
  expect(hasContact(phone, b)).toBe(false);
  expect((await phone.m.outbox.pending()).filter((item) => item.contact === b)).toEqual([]);
  await phone.m.outbox.flush();
  expect(sends.sendsAfterTheFirst()).toBe(0);
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
