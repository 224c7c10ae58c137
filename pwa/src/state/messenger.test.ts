// Two signed-in devices in one process, each a real Messenger over its own encrypted IndexedDB
// store, joined by the REAL relay (test-relay/global-setup.ts): HTTP through RelayApi and the
// live stream through RelaySocket (test/messenger-devices.ts).
// @vitest-environment node
import { encryptMessage, initiateSession } from '@secure-drop/crypto-core/session';
import { describe, expect, it, onTestFinished, vi } from 'vitest';
import { until } from '../../../scripts/lib/until.mjs';
import { RECORD as OUTBOX, type OutboxItem, type StoredMessage } from '../outbox/records.ts';
import { tinyJpeg } from '../photo/exif-fixture.ts';
import { loadDeviceId, publishAccountKeys, requireIdentity, resumeDevice } from '../secure/account-keys.ts';
import { PREKEY_ROTATION_INTERVAL_MS } from '../secure/prekey-lifecycle.ts';
import { RECORD as SECURE } from '../secure/records.ts';
import { prekeyBundleOf } from '../secure/session-manager.ts';
import { openIdbStorage } from '../storage/idb-storage.ts';
import type { WriteOp } from '../storage/storage.ts';
import {
  chat,
  type Device,
  device,
  linked,
  pair,
  photoUploads,
  setUpRelayDevices,
  start,
  stateOf,
  texts,
} from '../test/messenger-devices.ts';
import { registerOnRelay, registerWithDevice, signInAgain, toDevice1 } from '../test/relay.ts';
import { duringWrite, queuePhoto } from '../test/store-races.ts';
import { ApiError, apiErrorOf } from '../transport/errors.ts';
import { SocketFirst } from '../transport/socket-first.ts';
import { RelaySocket, type SocketRequest, SocketUnavailable } from '../transport/ws.ts';
import { toAppErrorCode } from './error-map.ts';
import { AppError } from './errors.ts';
import { MAX_STALE_RETRIES } from './messenger/outgoing.ts';
import type { ChatMessage } from './types.ts';

setUpRelayDevices();

describe('Messenger over the real relay', () => {
  it('delivers text both ways live, moving the sender through sending → sent → delivered', async () => {
    const [alice, bob] = await pair();
    const a = alice.user.username;
    const b = bob.user.username;
    expect(alice.sinks.contacts.value.map((c) => c.username)).toEqual([b]);
    const id = await alice.m.sendText(b, 'привет 👋 <b>bold</b>');
    await until(() => texts(bob, a).includes('привет 👋 <b>bold</b>'), 'bob receives');
    await until(() => stateOf(alice, b, id) === 'delivered', 'delivered mark');
    const received = bob.sinks.messages(a).value[0];
    expect(received).toMatchObject({ direction: 'in', state: 'received', contact: a });
    const reply = await bob.m.sendText(a, 'hi alice');
    await until(() => texts(alice, b).includes('hi alice'), 'alice receives');
    expect(texts(alice, b)).toEqual(['привет 👋 <b>bold</b>', 'hi alice']);
    await until(() => stateOf(bob, a, reply) === 'delivered', 'reply delivered');
    // Each side acknowledged after storing: both mailboxes on the relay end up empty.
    for (const d of [alice, bob])
      await expect
        .poll(async () => (await d.api.messages(0)).messages, { timeout: 2000, interval: 20 })
        .toEqual([]);
  });

  it('adding someone who is already a contact changes nothing and raises no error (the relay answers 200)', async () => {
    const [alice, bob] = await pair();
    const b = bob.user.username;
    await alice.m.sendText(b, 'kept');
    const chatsBefore = alice.sinks.chats.value;
    await alice.m.addContact(b);
    expect(alice.sinks.contacts.value.map((c) => c.username)).toEqual([b]);
    expect(alice.sinks.chats.value.map((c) => c.contact)).toEqual(chatsBefore.map((c) => c.contact));
    expect(texts(alice, b)).toEqual(['kept']);
    expect((await alice.m.sm.peers()).map((p) => p.username)).toEqual([b]);
  });

  it('counts unread messages in the chat list and clears them when the chat is read', async () => {
    const [alice, bob] = await pair();
    const a = alice.user.username;
    for (const t of ['one', 'two', 'three']) await alice.m.sendText(bob.user.username, t);
    await until(() => texts(bob, a).length === 3, 'three messages');
    expect(texts(bob, a)).toEqual(['one', 'two', 'three']);
    expect(chat(bob, a)).toMatchObject({ unread: 3, last: { preview: 'three', outgoing: false } });
    bob.m.markRead(a);
    expect(chat(bob, a)?.unread).toBe(0);
    // The read mark is stored: a restart over the same store still shows the chat read.
    bob.m.stop();
    const again = await start(bob.user, bob.api, bob.storage, { online: false });
    expect(chat(again, a)?.unread).toBe(0);
  });

  it('restarts from its store: history offline, then catches up from the cursor without duplicates', async () => {
    const [alice, bob] = await pair();
    const a = alice.user.username;
    await alice.m.sendText(bob.user.username, 'before');
    await until(() => texts(bob, a).includes('before'), 'first message');
    bob.m.stop();
    // Written while Bob's app is closed; it waits on the relay.
    await alice.m.sendText(bob.user.username, 'while away');
    const offline = await start(bob.user, bob.api, bob.storage, { online: false });
    expect(texts(offline, a)).toEqual(['before']);
    offline.m.goOnline();
    await until(() => texts(offline, a).includes('while away'), 'catch-up');
    // Sent after the catch-up, it arrives after any duplicate of it would (the relay's stream is
    // in order): then the history holds each message once.
    await alice.m.sendText(bob.user.username, 'after');
    await until(() => texts(offline, a).includes('after'), 'a later message');
    expect(texts(offline, a)).toEqual(['before', 'while away', 'after']);
  });

  it('sends what was written before going online exactly once', async () => {
    const [alice, bob] = await pair();
    const b = bob.user.username;
    alice.m.stop();
    const closed = await start(alice.user, alice.api, alice.storage, { online: false });
    // Not online: the message is queued in the store (the outbox), not lost.
    const id = await closed.m.sendText(b, 'queued');
    expect(stateOf(closed, b, id)).toBe('queued');
    closed.m.goOnline();
    await until(() => texts(bob, alice.user.username).includes('queued'), 'queued message arrives');
    await until(() => stateOf(closed, b, id) === 'delivered', 'delivered');
    // A later message from the same outbox arrives after any second copy of the first would.
    await closed.m.sendText(b, 'after');
    await until(() => texts(bob, alice.user.username).includes('after'), 'a later message');
    expect(texts(bob, alice.user.username)).toEqual(['queued', 'after']);
  });

  it('warns of a changed identity key, blocks sending until acknowledged, then reaches the new device', async () => {
    const [alice, bob] = await pair();
    const a = alice.user.username;
    const b = bob.user.username;
    await alice.m.sendText(b, 'first');
    await until(() => texts(bob, a).includes('first'), 'first message');
    await alice.m.setVerified(b, true);
    expect(alice.sinks.contacts.value[0]).toMatchObject({ verified: true, keyChanged: false });
    // Bob reinstalls: the same account on a new device with a new identity key.
    bob.m.stop();
    const bob2 = await device(bob.user, await signInAgain(bob.user));
    await until(() => alice.sinks.contacts.value[0]?.keyChanged === true, 'key change pushed');
    expect(alice.sinks.contacts.value[0]).toMatchObject({ verified: false, keyChanged: true });
    // The change is a timeline entry of the chat, at the moment it was seen, kept in history.
    const entries = () => alice.sinks.messages(b).value.filter((m) => m.body.kind === 'keyChange');
    expect(entries()).toHaveLength(1);
    expect(chat(alice, b)?.last).toMatchObject({ kind: 'text', preview: 'first' });
    // Written now, the message waits in the outbox: not encrypted to the new key, not sent.
    // (Bob's mailbox may still hold 'first': the old device stopped before acknowledging it.)
    const ids = async () => (await bob2.api.messages(0)).messages.map((m) => m.id);
    const mailboxBefore = await ids();
    const held = await alice.m.sendText(b, 'after the change');
    await alice.m.outbox.flush();
    expect(stateOf(alice, b, held)).toBe('queued');
    expect(await ids()).toEqual(mailboxBefore);
    // (The new device learnt alice from the account's contact list on the relay, and says so
    // in a timeline entry, written whenever its first read of the list returns.)
    const bob2Texts = () => texts(bob2, a).filter((t) => t !== '<acceptedElsewhere>');
    expect(bob2Texts()).toEqual([]);
    // Verified before the change: a plain acknowledgement is refused, the explicit step is not.
    await expect(alice.m.acknowledgeKeyChange(b)).rejects.toMatchObject({ code: 'verification_required' });
    await alice.m.acknowledgeKeyChange(b, 'without-verifying');
    expect(alice.sinks.contacts.value[0]).toMatchObject({ keyChanged: false, verified: false });
    await until(() => texts(bob2, a).includes('after the change'), 'held message sent after acknowledging');
    await alice.m.sendText(b, 'to the new phone');
    await until(() => texts(bob2, a).includes('to the new phone'), 'new device receives');
    expect(bob2Texts()).toEqual(['after the change', 'to the new phone']);
    expect(texts(bob2, a).filter((t) => t === '<acceptedElsewhere>')).toHaveLength(1);
    expect(entries()).toHaveLength(1);
    const reloaded = await start(alice.user, alice.api, alice.storage, { online: false });
    expect(texts(reloaded, b)).toContain('<keyChange>');
  });

  it('regression (outbox sealed for the old key): a message sealed before a key change is held, then re-sealed for the accepted key — never lost', async () => {
    const [alice, bob] = await pair();
    const a = alice.user.username;
    const b = bob.user.username;
    await alice.m.sendText(b, 'first');
    await until(() => texts(bob, a).includes('first'), 'first message');
    // Alice's app sealed a message for Bob's current key, then closed before the send got
    // through (the outbox keeps the ciphertext to resend the same bytes).
    alice.m.stop();
    const peer = await alice.m.sm.peer(b);
    if (!peer) throw new Error('no peer');
    const id = crypto.randomUUID();
    const now = Date.now();
    const message: StoredMessage = {
      id,
      contact: b,
      direction: 'out',
      at: now,
      storedAt: now,
      state: 'queued',
      body: { kind: 'text', text: 'sealed before the change' },
    };
    await alice.m.sm.encryptText(b, 'sealed before the change', (wire) => [
      { kind: 'putMessage', chat: peer.chatId, id, value: message },
      {
        kind: 'put',
        key: OUTBOX.outbox(id),
        value: {
          id,
          contact: b,
          chatId: peer.chatId,
          kind: 'text',
          createdAt: now,
          wire,
          failed: null,
        } satisfies OutboxItem,
      },
    ]);
    // Bob reinstalls meanwhile; Alice's app starts again and goes online.
    bob.m.stop();
    const bob2 = await device(bob.user, await signInAgain(bob.user));
    const alice2 = await start(alice.user, alice.api, alice.storage);
    await alice2.m.outbox.flush();
    await until(() => alice2.sinks.contacts.value[0]?.keyChanged === true, 'key change seen');
    // Held: the old ciphertext did not go to the new device.
    expect(stateOf(alice2, b, id)).toBe('queued');
    await alice2.m.acknowledgeKeyChange(b);
    await until(() => texts(bob2, a).includes('sealed before the change'), 're-sealed for the new key');
    await until(() => stateOf(alice2, b, id) === 'delivered', 'delivered');
  });

  it('START OVER elsewhere removes this device (spec §16): its session ends, and a login again on it is told device_removed', async () => {
    const user = await registerOnRelay('mo');
    const first = await device(user);
    expect(first.sinks.ownIdentity.value).toBeNull();
    // Someone (or the owner) logs in elsewhere and starts over with a new identity key.
    const second = await device(user, await signInAgain(user));
    await until(() => first.ended() > 0, 'session ended');
    const err = await resumeDevice(first.storage, await signInAgain(user, 1)).catch((e: unknown) => e);
    expect(toAppErrorCode(err)).toBe('device_removed');
    // The device whose key the relay publishes is not warned.
    await second.m.checkOwnIdentity();
    expect(second.sinks.ownIdentity.value).toBeNull();
  });

  it('regression (undecryptable messages create chats): a stranger’s message that does not open creates no contact and no chat', async () => {
    const [alice, bob] = await pair();
    const a = alice.user.username;
    const mallory = await registerWithDevice('mz');
    await mallory.api.sendMessage(
      a,
      crypto.randomUUID(),
      toDevice1(crypto.getRandomValues(new Uint8Array(200))),
    );
    // Frames are handled in order: once Bob's later message shows, Mallory's was handled.
    await bob.m.sendText(a, 'after the garbage');
    await until(() => texts(alice, bob.user.username).includes('after the garbage'), 'later message');
    expect(alice.sinks.contacts.value.map((c) => c.username)).toEqual([bob.user.username]);
    expect(alice.sinks.chats.value.map((c) => c.contact)).toEqual([bob.user.username]);
    expect((await alice.m.sm.peers()).map((p) => p.username)).toEqual([bob.user.username]);
  });

  it('regression (control messages open a request): a stranger’s control message creates no contact, chat or request and gets no receipt, yet leaves the relay', async () => {
    const [alice, bob] = await pair();
    const a = alice.user.username;
    const mallory = await registerOnRelay('mc');
    // Mallory seals a control message with her real keys (the app never sends one): it opens.
    const malloryStore = await openIdbStorage(`messenger-${mallory.username}-${crypto.randomUUID()}`);
    await publishAccountKeys(malloryStore, mallory.username, mallory.api);
    const bundle = (await mallory.api.bundles(a)).devices[0];
    if (!bundle) throw new Error('alice has no device');
    const { session } = initiateSession(await requireIdentity(malloryStore), prekeyBundleOf(bundle), {
      initiator: mallory.username,
      responder: a,
    });
    const { message } = await encryptMessage(session, 'control', {
      body: new Uint8Array([1]),
      sentAt: Date.now(),
      order: 1,
    });
    // Acknowledgements go over the socket when it is open, else POST /ack: watch both paths.
    const acks = vi.spyOn(SocketFirst.prototype, 'ack');
    onTestFinished(() => acks.mockRestore());
    const sent = await mallory.api.sendMessage(a, crypto.randomUUID(), toDevice1(message));
    // Frames are handled in order: once Bob's later message shows, Mallory's was handled.
    await bob.m.sendText(a, 'after the control');
    await until(() => texts(alice, bob.user.username).includes('after the control'), 'later message');
    expect(alice.sinks.contacts.value.map((c) => c.username)).toEqual([bob.user.username]);
    expect(alice.sinks.chats.value.map((c) => c.contact)).toEqual([bob.user.username]);
    expect((await alice.m.sm.peers()).map((p) => p.username)).toEqual([bob.user.username]);
    // Acknowledged so the relay deletes it, but never with a delivery receipt.
    await vi.waitFor(
      async () => {
        const waiting = (await alice.api.messages(0)).messages.map((m) => m.id);
        if (waiting.includes(sent.id)) throw new Error('control message still on the relay');
      },
      { timeout: 10_000, interval: 50 },
    );
    const receipted = acks.mock.calls.flatMap(([ids]) => ids);
    const silent = acks.mock.calls.flatMap(([, , quiet]) => quiet ?? []);
    expect(receipted).not.toContain(sent.id);
    expect(silent).toContain(sent.id);
  });

  it('a first message from someone not added is a request: no delivery receipt until accepted', async () => {
    const alice = await device(await registerOnRelay('mr'));
    const carol = await device(await registerOnRelay('ms'));
    const a = alice.user.username;
    const c = carol.user.username;
    await carol.m.addContact(a);
    const first = await carol.m.sendText(a, 'hi, it is carol');
    await until(() => texts(alice, c).includes('hi, it is carol'), 'request arrives');
    expect(alice.sinks.contacts.value).toEqual([expect.objectContaining({ username: c, request: true })]);
    await alice.m.addContact(c);
    expect(alice.sinks.contacts.value[0]?.request).toBeUndefined();
    const second = await carol.m.sendText(a, 'thanks for accepting');
    await until(() => stateOf(carol, a, second) === 'delivered', 'receipt after acceptance');
    // Receipts come in stream order: none was given for the request.
    expect(stateOf(carol, a, first)).toBe('sent');
  });

  it('deleting a message request is this device’s alone: no relay request, so no list-change limit can refuse it', async () => {
    const alice = await device(await registerOnRelay('mrd'));
    const carol = await device(await registerOnRelay('msd'));
    const a = alice.user.username;
    const c = carol.user.username;
    await carol.m.addContact(a);
    await carol.m.sendText(a, 'a request');
    await until(() => texts(alice, c).includes('a request'), 'request arrives');
    const removed = vi.spyOn(alice.api, 'removeContact');
    onTestFinished(() => removed.mockRestore());
    await alice.m.removeContact(c);
    expect(removed).not.toHaveBeenCalled();
    expect(hasContact(alice, c)).toBe(false);
  });

  it('shows relay-reordered messages in the sender’s order, dated by the sender’s time', async () => {
    const [alice, bob] = await pair();
    const a = alice.user.username;
    const b = bob.user.username;
    bob.m.stop();
    // Sealed in order 1, 2, 3 — all in the same millisecond, so only the order number inside
    // the ciphertext tells them apart — then handed to the relay as 3, 1, 2.
    const sentAt = Date.UTC(2026, 0, 2, 3, 4, 5);
    const wires: Uint8Array[] = [];
    for (const t of ['one', 'two', 'three'])
      wires.push(await alice.m.sm.encryptText(b, t, () => [], { sentAt }));
    for (const i of [2, 0, 1])
      await alice.api.sendMessage(b, crypto.randomUUID(), toDevice1(wires[i] as Uint8Array));
    const again = await start(bob.user, bob.api, bob.storage);
    await until(() => texts(again, a).length === 3, 'three messages');
    expect(texts(again, a)).toEqual(['one', 'two', 'three']);
    const shown = again.sinks.messages(a).value;
    expect(shown.map((m) => m.at)).toEqual([sentAt, sentAt, sentAt]);
    // The relay's clock is kept only as "received at".
    for (const m of shown) expect(m.receivedAt).toBeGreaterThan(sentAt);
  });

  it('rotates an overdue signed prekey pair when it comes online and publishes it', async () => {
    const alice = await device(await registerOnRelay('mr'));
    alice.m.stop();
    const later = Date.now() + PREKEY_ROTATION_INTERVAL_MS + 60_000;
    await start(alice.user, alice.api, alice.storage, { clock: () => later });
    const published = async () => (await alice.api.identity(alice.user.username)).signedPreKeyId;
    for (let i = 0; i < 200 && (await published()) !== 2; i++) await new Promise((r) => setTimeout(r, 20));
    expect(await alice.api.identity(alice.user.username)).toMatchObject({ signedPreKeyId: 2, pqPreKeyId: 2 });
  });

  it('refuses to send to someone who is not a contact and removes a contact with its chat', async () => {
    const [alice, bob] = await pair();
    const b = bob.user.username;
    await expect(alice.m.sendText('nobody_here', 'x')).rejects.toBeInstanceOf(AppError);
    await alice.m.sendText(b, 'bye');
    await until(() => alice.sinks.messages(b).value.length === 1, 'own message shown');
    await alice.m.removeContact(b);
    expect(alice.sinks.contacts.value).toEqual([]);
    expect(alice.sinks.chats.value).toEqual([]);
    expect(alice.sinks.messages(b).value).toEqual([]);
    expect(await alice.api.contacts()).toEqual([]);
  });
});

const hasContact = (d: Device, name: string) => d.sinks.contacts.value.some((c) => c.username === name);
const isBlocked = (d: Device, name: string) =>
  d.sinks.contacts.value.find((c) => c.username === name)?.blocked === true;

/** The (recipient, own) device ids of the last send `spy` saw, and its client id. */
function lastSend(spy: { mock: { calls: Parameters<SocketFirst['sendMessage']>[] } }) {
  const call = spy.mock.calls.at(-1);
  if (!call) throw new Error('nothing sent');
  const [, clientId, messages, own = []] = call;
  return { clientId, recipient: messages.map((c) => c.deviceId), own: own.map((c) => c.deviceId) };
}

/** Unlinks device `id` of `d`'s account from `d` (another device: a fresh second factor first). */
async function unlink(d: Device, id: number, codeIndex: number): Promise<void> {
  const code = d.user.recoveryCodes[codeIndex];
  if (!code) throw new Error('no recovery code left');
  await d.api.reauth(code);
  await d.api.removeDevice(id);
}

/** Alice and Bob, each with a second device that knows the other as a contact. */
async function twoLinkedPairs() {
  const [alice, bob] = await pair();
  const a = alice.user.username;
  const b = bob.user.username;
  const alice2 = await linked(alice);
  const bob2 = await linked(bob);
  await until(() => hasContact(alice2, b) && hasContact(bob2, a), 'contacts on the new devices');
  return { alice, bob, a, b, alice2, bob2 };
}

describe('Messenger with linked devices over the real relay (spec §16)', () => {
  it('fans one send out to 2 recipient devices and 1 own device under one client_id; the own device shows it as sent by us', async () => {
    const { alice, bob, a, b, alice2, bob2 } = await twoLinkedPairs();
    const sends = vi.spyOn(SocketFirst.prototype, 'sendMessage');
    onTestFinished(() => sends.mockRestore());
    const id = await alice.m.sendText(b, 'to every device');
    await until(() => texts(bob, a).includes('to every device'), 'bob’s first device');
    await until(() => texts(bob2, a).includes('to every device'), 'bob’s second device');
    await until(() => texts(alice2, b).includes('to every device'), 'alice’s other device');
    // Alice's first device learnt of her second from the relay's 409 stale_devices: every try
    // of the send carried the same client_id, and the last one every device.
    expect(new Set(sends.mock.calls.map((c) => c[1]))).toEqual(new Set([id]));
    expect(lastSend(sends)).toEqual({ clientId: id, recipient: [1, 2], own: [2] });
    // On Alice's other device it is hers, in the chat with Bob: no request, nothing to accept.
    expect(alice2.sinks.messages(b).value.find((m) => m.body.kind === 'text')).toMatchObject({
      direction: 'out',
      state: 'sent',
      contact: b,
    });
    expect(alice2.sinks.contacts.value).toEqual([
      expect.objectContaining({ username: b, keyChanged: false }),
    ]);
    expect(alice2.sinks.contacts.value[0]?.request).toBeUndefined();
    await until(() => stateOf(alice, b, id) === 'delivered', 'delivered from any copy');
    // Linking warned nobody: one identity key per account.
    expect(alice.sinks.contacts.value[0]).toMatchObject({ keyChanged: false });
    expect(bob.sinks.contacts.value[0]).toMatchObject({ keyChanged: false });
    // A reply reaches Alice's both devices and Bob's other device as his.
    await bob.m.sendText(a, 'reply');
    await until(() => texts(alice, b).includes('reply') && texts(alice2, b).includes('reply'), 'reply');
    await until(() => texts(bob2, a).includes('reply'), 'bob’s sync copy');
    expect(
      bob2.sinks.messages(a).value.find((m) => m.body.kind === 'text' && m.body.text === 'reply'),
    ).toMatchObject({
      direction: 'out',
    });
  });

  it('attack/race: a device added between the bundle fetch and the send — 409, bundles for the new device only, the whole set resent once', async () => {
    const [alice, bob] = await pair();
    const a = alice.user.username;
    const b = bob.user.username;
    await alice.m.sendText(b, 'one device');
    await until(() => texts(bob, a).includes('one device'), 'first message');
    const bundles = vi.spyOn(alice.api, 'bundles');
    onTestFinished(() => bundles.mockRestore());
    const sends = vi.spyOn(SocketFirst.prototype, 'sendMessage');
    onTestFinished(() => sends.mockRestore());
    // Bob links a device after Alice's device list was learnt.
    const bob2 = await linked(bob);
    const id = await alice.m.sendText(b, 'two devices');
    await until(() => texts(bob2, a).includes('two devices'), 'the new device receives');
    await until(() => texts(bob, a).includes('two devices'), 'the old device receives');
    expect(bundles.mock.calls).toEqual([[b, [2]]]);
    expect(sends.mock.calls.map((c) => c[1])).toEqual([id, id]);
    expect(lastSend(sends)).toEqual({ clientId: id, recipient: [1, 2], own: [] });
    // The first copy was sealed once and sent as the same bytes both times.
    expect(sends.mock.calls[0]?.[2][0]?.body).toEqual(sends.mock.calls[1]?.[2][0]?.body);
    await alice.m.sendText(b, 'after');
    await until(() => texts(bob, a).includes('after'), 'later message');
    expect(texts(bob, a)).toEqual(['one device', 'two devices', 'after']);
    expect(alice.sinks.contacts.value[0]).toMatchObject({ keyChanged: false });
  });

  it('attack: a relay answering stale_devices forever gets a bounded number of resends, then the message fails and can be retried', async () => {
    const [alice, bob] = await pair();
    const a = alice.user.username;
    const b = bob.user.username;
    const stale = new ApiError(409, 'stale_devices', 'device lists changed', undefined, {
      recipient: [1],
      own: [],
    });
    const sends = vi.spyOn(SocketFirst.prototype, 'sendMessage').mockRejectedValue(stale);
    const id = await alice.m.sendText(b, 'never stored');
    await until(() => stateOf(alice, b, id) === 'failed', 'failed after the bounded retries');
    expect(sends).toHaveBeenCalledTimes(1 + MAX_STALE_RETRIES);
    expect(new Set(sends.mock.calls.map((c) => c[1]))).toEqual(new Set([id]));
    sends.mockRestore();
    await alice.m.retry(id);
    await until(() => texts(bob, a).includes('never stored'), 'sent on retry');
  });

  it('a removed device receives nothing further: the set goes to the others', async () => {
    const [alice, bob] = await pair();
    const a = alice.user.username;
    const b = bob.user.username;
    const bob2 = await linked(bob);
    await alice.m.sendText(b, 'both');
    await until(() => texts(bob2, a).includes('both') && texts(bob, a).includes('both'), 'both devices');
    await unlink(bob, 2, 1);
    bob2.m.stop();
    const sends = vi.spyOn(SocketFirst.prototype, 'sendMessage');
    onTestFinished(() => sends.mockRestore());
    await alice.m.sendText(b, 'after the unlink');
    await until(() => texts(bob, a).includes('after the unlink'), 'the remaining device');
    expect(lastSend(sends).recipient).toEqual([1]);
    expect(alice.m.sm.knownPeer(b)?.devices).toEqual([1]);
  });

  it('numbers a message after the orders synced from the account’s other device (order across devices)', async () => {
    const [alice, bob] = await pair();
    const a = alice.user.username;
    const b = bob.user.username;
    const alice2 = await linked(alice);
    await until(() => hasContact(alice2, b), 'contact on the new device');
    for (const t of ['one', 'two', 'three']) await alice.m.sendText(b, t);
    await until(() => texts(alice2, b).includes('three'), 'three sync copies');
    await alice2.m.sendText(b, 'four');
    await until(() => texts(bob, a).length === 4, 'four messages');
    const chatId = bob.m.sm.knownPeer(a)?.chatId as string;
    const rows = await bob.storage.messages<StoredMessage>(chatId, 10);
    const orders = rows.map((r) => r.value).filter((m) => m.body.kind === 'text');
    expect(orders.map((m) => [m.body.kind === 'text' && m.body.text, m.order])).toEqual([
      ['one', 1],
      ['two', 2],
      ['three', 3],
      ['four', 4],
    ]);
    expect(texts(bob, a)).toEqual(['one', 'two', 'three', 'four']);
  });

  it('uploads a photo once: the same blob and key in every copy, opened on every device', async () => {
    const { alice, bob, a, b, alice2, bob2 } = await twoLinkedPairs();
    await queuePhoto(alice, b, { bytes: tinyJpeg(), width: 16, height: 8 });
    photoUploads.length = 0;
    const photoOf = (d: Device, contact: string) =>
      d.sinks.messages(contact).value.find((m) => m.body.kind === 'photo');
    await until(() => !!photoOf(bob, a) && !!photoOf(bob2, a) && !!photoOf(alice2, b), 'photo copies');
    const blobIds = new Set<string | null>();
    for (const [d, contact] of [
      [bob, a],
      [bob2, a],
      [alice2, b],
    ] as const) {
      const m = photoOf(d, contact);
      if (!m) throw new Error('no photo');
      const stored = await d.storage.getMessage<StoredMessage>(m.id);
      blobIds.add(stored?.body.kind === 'photo' ? stored.body.photo.blobId : null);
      await d.m.loadPhoto(m.id);
      await until(() => !['idle', 'loading'].includes(d.sinks.photo(m.id).value.status), 'photo loads');
      expect(d.sinks.photo(m.id).value.status).toBe('ready');
    }
    expect(blobIds.size).toBe(1);
    expect(photoUploads).toEqual([...blobIds]);
    expect([...blobIds][0]).toEqual(expect.any(String));
  });

  it('a photo whose picture is not the one its message announced is not shown (spec §10.5)', async () => {
    // A contact (or a modified client) announces a small picture and uploads another: here a
    // 16×8 JPEG announced as 4000×4000. A picture may declare any size in its header, so the
    // receiver checks the header against the announcement before anything is decoded.
    const [alice, bob] = await pair();
    const a = alice.user.username;
    await queuePhoto(alice, bob.user.username, { bytes: tinyJpeg(), width: 4000, height: 4000 });
    let m: ChatMessage | undefined;
    await until(() => {
      m = bob.sinks.messages(a).value.find((x) => x.body.kind === 'photo');
      return !!m;
    }, 'the photo message');
    const id = (m as ChatMessage).id;
    await bob.m.loadPhoto(id);
    await until(() => !['idle', 'loading'].includes(bob.sinks.photo(id).value.status), 'photo loads');
    expect(bob.sinks.photo(id).value).toMatchObject({ status: 'failed', error: 'photo_mismatch', url: null });
    expect(await bob.storage.get(OUTBOX.photo(id))).toBeUndefined();
  });

  it('RESUME: a login again on the same device binds to its device id; an unlinked device gets device_removed', async () => {
    const alice = await device(await registerOnRelay('mq'));
    expect(await loadDeviceId(alice.storage)).toBe(1);
    const again = await signInAgain(alice.user, 0);
    expect(await resumeDevice(alice.storage, again)).toBe(1);
    await expect(again.messages(0)).resolves.toMatchObject({ messages: [] });
    // The relay's resume secret (spec §16.9) is kept with the device id and sent back: a store
    // without it (an attacker naming this device) is refused, shown like an unlinked device.
    const secret = await alice.storage.get<Uint8Array>(SECURE.resumeSecret);
    expect(secret).toBeInstanceOf(Uint8Array);
    expect(secret?.length).toBe(32);
    await alice.storage.write([{ kind: 'delete', key: SECURE.resumeSecret }], { durability: 'strict' });
    const refused = await resumeDevice(alice.storage, await signInAgain(alice.user, 4)).catch(
      (e: unknown) => e,
    );
    expect(refused).toMatchObject({ status: 403, code: 'resume_refused' });
    expect(toAppErrorCode(refused)).toBe('device_removed');
    await alice.storage.write([{ kind: 'put', key: SECURE.resumeSecret, value: secret }], {
      durability: 'strict',
    });
    expect(await resumeDevice(alice.storage, await signInAgain(alice.user, 5))).toBe(1);
    const alice2 = await linked(alice, 1);
    expect(await loadDeviceId(alice2.storage)).toBe(2);
    alice2.m.stop();
    await unlink(alice, 2, 2);
    const err = await resumeDevice(alice2.storage, await signInAgain(alice.user, 3)).catch((e: unknown) => e);
    expect(err).toMatchObject({ status: 409, code: 'device_removed' });
    expect(toAppErrorCode(err)).toBe('device_removed');
  });

  it('a block on one device reaches another that is online even when its first read of the lists fails', async () => {
    const [alice, bob] = await pair();
    const b = bob.user.username;
    const alice2 = await linked(alice);
    await until(() => hasContact(alice2, b), 'the second device has bob');
    let failures = 0;
    const read = alice2.api.blocks.bind(alice2.api);
    const blocks = vi.spyOn(alice2.api, 'blocks').mockImplementation(async () => {
      if (failures++ === 0) throw new ApiError(503, 'unavailable', 'a transient failure');
      return read();
    });
    onTestFinished(() => blocks.mockRestore());
    await alice.m.blockContact(b);
    await until(() => failures === 1, 'the second device tried to read the lists');
    // Read again (messenger/lists-refresh.ts), with the socket up all along.
    await until(() => isBlocked(alice2, b), 'the second device marks the blocked contact');
    expect(alice2.sinks.connection.value).toBe('online');
  });

  it('a device back after many list changes finds one item for them and reads the lists twice, not once per change', async () => {
    const [alice, bob] = await pair();
    const a = alice.user.username;
    const b = bob.user.username;
    const alice2 = await linked(alice);
    await until(() => hasContact(alice2, b), 'the second device has bob');
    alice2.m.stop();
    const carol = await registerOnRelay('mz');
    const CHANGES = 40;
    for (let i = 0; i < CHANGES / 2; i++) {
      await alice.api.addContact(carol.username);
      await alice.api.removeContact(carol.username);
    }
    await bob.m.sendText(a, 'after the changes');
    const contacts = vi.spyOn(alice2.api, 'contacts');
    onTestFinished(() => contacts.mockRestore());
    const again = await start(alice2.user, alice2.api, alice2.storage);
    await until(() => texts(again, b).includes('after the changes'), 'the message after the changes arrives');
    await until(() => contacts.mock.calls.length >= 2, 'the lists are read');
    // The relay kept the changing session's newest item only; the device reads the lists on
    // connecting and once for that item (messenger/lists-refresh.ts gathers a burst of items
    // from several sessions the same way): not CHANGES reads.
    expect(contacts.mock.calls.length).toBeLessThanOrEqual(2);
  });

  it('a user both blocked and still listed as a contact (a relay from before it refused that) stays a blocked chat', async () => {
    const [alice, bob] = await pair();
    const b = bob.user.username;
    await alice.api.block(b);
    const listed = await alice.api.contacts();
    const contacts = vi
      .spyOn(alice.api, 'contacts')
      .mockResolvedValue([...listed, { username: b, added_at: new Date().toISOString() }]);
    onTestFinished(() => contacts.mockRestore());
    expect(isBlocked(alice, b)).toBe(false);
    await alice.m.syncContacts();
    expect(isBlocked(alice, b)).toBe(true);
    await alice.m.syncContacts();
    expect(isBlocked(alice, b)).toBe(true);
  });
});

/** The socket's next send request behaves as `fault` says (given the real one); the rest pass. */
function faultNextSocketSend(fault: (real: () => Promise<unknown>) => Promise<unknown>): void {
  const original = RelaySocket.prototype.request;
  let used = false;
  const spy = vi.spyOn(RelaySocket.prototype, 'request').mockImplementation(function (
    this: RelaySocket,
    frame: SocketRequest,
    timeoutMs?: number,
  ) {
    if (frame.type !== 'send' || used) return original.call(this, frame, timeoutMs);
    used = true;
    return fault(() => original.call(this, frame, timeoutMs));
  });
  onTestFinished(() => spy.mockRestore());
}

/** The next HTTP POST /send_message answers as `fault` says; other requests pass. Says whether it has. */
function faultNextHttpSend(fault: () => Promise<Response>): () => boolean {
  const original = globalThis.fetch;
  let used = false;
  const spy = vi.spyOn(globalThis, 'fetch').mockImplementation((input, init) => {
    const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
    if (used || init?.method !== 'POST' || !url.includes('/send_message')) return original(input, init);
    used = true;
    return fault();
  });
  onTestFinished(() => spy.mockRestore());
  return () => used;
}

/**
 * Bob sends `first`; once `struck()` says the fault met it on Alice's side, `second`. Both must
 * reach Alice, in order, with no reload: the stream came back to the first.
 */
async function faultThenBoth(
  alice: Device,
  bob: Device,
  struck: () => boolean,
  [first, second]: [string, string],
) {
  const a = alice.user.username;
  await bob.m.sendText(a, first);
  await until(struck, 'the fault');
  await bob.m.sendText(a, second);
  await until(() => texts(alice, bob.user.username).length === 2, 'both messages, without a reload');
  expect(texts(alice, bob.user.username)).toEqual([first, second]);
}

describe('Messenger when the relay, the network or the store fail (RELIABILITY.md)', () => {
  it('a 500 from the relay (its database restarting) leaves the message queued; both arrive in order, untouched', async () => {
    const [alice, bob] = await pair();
    const a = alice.user.username;
    const b = bob.user.username;
    // The hub answers a send frame 500 internal when the database is away: nothing stored.
    faultNextSocketSend(async () => {
      throw apiErrorOf(500, { error: 'internal', message: 'internal error' }, 'internal error');
    });
    const first = await alice.m.sendText(b, 'during the database restart');
    await alice.m.sendText(b, 'after it');
    // It used to fail for good (error "unknown"), holding every later message to Bob.
    await until(() => texts(bob, a).length === 2, 'both messages, without a retry by hand');
    expect(texts(bob, a)).toEqual(['during the database restart', 'after it']);
    expect(alice.sinks.messages(b).value.find((m) => m.id === first)?.error).toBeUndefined();
  });

  it('a 502 from the front (the relay restarting behind Caddy) leaves the message queued until it goes', async () => {
    const [alice, bob] = await pair();
    const a = alice.user.username;
    faultNextSocketSend(async () => {
      throw new SocketUnavailable('not_open');
    });
    faultNextHttpSend(async () =>
      Response.json({ error: 'bad_gateway', message: 'the relay is not reachable' }, { status: 502 }),
    );
    await alice.m.sendText(bob.user.username, 'sent while the relay restarts');
    await until(() => texts(bob, a).includes('sent while the relay restarts'), 'the message');
  });

  it('a delivery receipt that comes before the outbox learns its send was stored stays: delivered is final', async () => {
    const [alice, bob] = await pair();
    const a = alice.user.username;
    const b = bob.user.username;
    // The relay stores the send, the socket drops before its answer, and the HTTP retry meets
    // the network gone: the message stays queued while Bob receives it and the receipt comes.
    faultNextSocketSend(async (real) => {
      await real();
      throw new SocketUnavailable('closed');
    });
    faultNextHttpSend(async () => {
      throw new TypeError('fetch failed');
    });
    const id = await alice.m.sendText(b, 'answer lost');
    await until(() => stateOf(alice, b, id) === 'delivered', 'the receipt');
    // The outbox sends it again (a duplicate for the relay); that used to write "sent" over it.
    await vi.waitFor(
      async () => {
        if ((await alice.m.outbox.pending()).length) throw new Error('the outbox still holds it');
      },
      { timeout: 20_000, interval: 20 },
    );
    expect(stateOf(alice, b, id)).toBe('delivered');
    expect((await alice.storage.getMessage<StoredMessage>(id))?.state).toBe('delivered');
    expect(texts(bob, a)).toEqual(['answer lost']);
  });

  it('a delivery receipt handled between the outbox’s read and write of "sent" is not overwritten by it', async () => {
    const [alice, bob] = await pair(['qo', 'qp']);
    const b = bob.user.username;
    const chatId = alice.m.sm.knownPeer(b)?.chatId ?? '';
    const storedState = async (id: string) => (await alice.storage.getMessage<StoredMessage>(id))?.state;
    let id = '';
    // The outbox read the message to mark it sent; bob's receipt is handled before that write.
    const writing = duringWrite(
      alice,
      (ops) => ops.some((op) => op.kind === 'putMessage' && (op.value as StoredMessage).state === 'sent'),
      chatId,
      () => until(() => stateOf(alice, b, id) === 'delivered', 'the receipt handled'),
    );
    id = await alice.m.sendText(b, 'delivered before sent');
    await until(() => writing.started() !== null, 'the outbox marks it sent');
    await writing.started();
    await until(writing.written, 'the outbox’s write');
    expect(await storedState(id)).toBe('delivered');
    await until(() => stateOf(alice, b, id) === 'delivered', 'shown as delivered');
  });

  it('a message the store failed to take comes again: the stream resumes from it, not past it', async () => {
    const [alice, bob] = await pair();
    // One failure of the write that stores an incoming message (a full disk, an aborted
    // transaction). Handling the next message moved the cursor past this one for good.
    const write = alice.storage.write.bind(alice.storage);
    let failed = false;
    const spy = vi
      .spyOn(alice.storage, 'write')
      .mockImplementation(async (ops: readonly WriteOp[], ...rest: unknown[]) => {
        if (!failed && ops.some((op) => op.kind === 'putMessage' && String(op.id).startsWith('in-'))) {
          failed = true;
          throw new DOMException('quota exceeded', 'QuotaExceededError');
        }
        return write(ops, ...(rest as []));
      });
    onTestFinished(() => spy.mockRestore());
    await faultThenBoth(alice, bob, () => failed, ['one', 'two']);
  });

  it('a message that does not open leaves the relay (acknowledged without a receipt), so junk cannot fill the mailbox', async () => {
    const [alice, bob] = await pair();
    const a = alice.user.username;
    const mallory = await registerWithDevice('mj');
    const junk = await mallory.api.sendMessage(
      a,
      crypto.randomUUID(),
      toDevice1(crypto.getRandomValues(new Uint8Array(200))),
    );
    await bob.m.sendText(a, 'after the junk');
    await until(() => texts(alice, bob.user.username).includes('after the junk'), 'the later message');
    // This device's copy is its own (spec §16): no other device could open it. It used to stay,
    // counted against MAX_PENDING_MESSAGES, until retention.
    await vi.waitFor(
      async () => {
        const waiting = (await alice.api.messages(0)).messages.map((m) => m.id);
        if (waiting.includes(junk.id)) throw new Error('the junk still waits on the relay');
      },
      { timeout: 20_000, interval: 50 },
    );
  });

  it('a clock set back between two sends, across a reload, does not put the later message first', async () => {
    const [alice, bob] = await pair();
    const a = alice.user.username;
    const b = bob.user.username;
    alice.m.stop();
    const t0 = Date.now();
    const before = await start(alice.user, alice.api, alice.storage, { online: false, clock: () => t0 });
    // Offline for HTTP too: A stays in the outbox.
    const refused = faultNextHttpSend(async () => {
      throw new TypeError('fetch failed');
    });
    const first = await before.m.sendText(b, 'A, written first');
    await until(refused, 'the send to meet the network gone');
    await until(() => stateOf(before, b, first) === 'queued', 'A back in the outbox');
    before.m.stop();
    // The clock is corrected back an hour (after a boot), and the app loads again, still offline.
    const after = await start(alice.user, alice.api, alice.storage, {
      online: false,
      clock: () => t0 - 3_600_000,
    });
    await after.m.sendText(b, 'B, written second');
    after.m.goOnline();
    await until(() => texts(bob, a).length === 2, 'both messages');
    expect(texts(bob, a)).toEqual(['A, written first', 'B, written second']);
    expect(texts(after, b)).toEqual(['A, written first', 'B, written second']);
  });

  it('a photo whose send fails after its upload is not uploaded again: the retry seals the same blob', async () => {
    const [alice, bob] = await pair();
    const a = alice.user.username;
    const b = bob.user.username;
    // The network drops just after the upload, while the message is sealed (the first message
    // to Bob fetches his prekey bundles): the photo stays queued. Its retry used to upload a
    // second blob, the first one counted in Alice's photo quota until retention.
    const original = globalThis.fetch;
    let dropped = false;
    const spy = vi.spyOn(globalThis, 'fetch').mockImplementation((input, init) => {
      const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
      if (!dropped && photoUploads.length > 0 && url.includes('/keys/')) {
        dropped = true;
        return Promise.reject(new TypeError('fetch failed'));
      }
      return original(input, init);
    });
    onTestFinished(() => spy.mockRestore());
    photoUploads.length = 0;
    await queuePhoto(alice, b, { bytes: tinyJpeg(), width: 16, height: 8 });
    await until(() => texts(bob, a).includes('<photo>'), 'the photo message', { timeoutMs: 30_000 });
    expect(dropped).toBe(true);
    expect(photoUploads).toHaveLength(1);
    const m = bob.sinks.messages(a).value.find((x) => x.body.kind === 'photo');
    if (!m) throw new Error('no photo');
    await bob.m.loadPhoto(m.id);
    await until(() => !['idle', 'loading'].includes(bob.sinks.photo(m.id).value.status), 'the photo loads');
    expect(bob.sinks.photo(m.id).value.status).toBe('ready');
  });

  it('a contact’s photo message whose metadata is malformed is passed over: the stream goes on', async () => {
    const [alice, bob] = await pair();
    const a = alice.user.username;
    const b = bob.user.username;
    const sealed = await bob.m.sm.sealFanOut(a, {
      contentType: 'photo',
      body: Uint8Array.from([1, 2, 3, 4]),
    });
    await bob.api.sendMessage(a, crypto.randomUUID(), sealed.recipient, sealed.own);
    await bob.m.sendText(a, 'after the bad photo');
    await until(() => texts(alice, b).includes('after the bad photo'), 'the message after it');
    expect(texts(alice, b)).toEqual(['after the bad photo']);
  });

  it('attack: a stranger’s photo-typed junk does not hold back a contact’s messages', async () => {
    const [alice, bob] = await pair();
    const a = alice.user.username;
    const mallory = await device(await registerOnRelay('mm'));
    await mallory.m.addContact(a); // Alice never adds Mallory: a message request
    const sealed = await mallory.m.sm.sealFanOut(a, { contentType: 'photo', body: new Uint8Array(40) });
    await mallory.api.sendMessage(a, crypto.randomUUID(), sealed.recipient, sealed.own);
    await bob.m.sendText(a, 'from a contact, after the junk');
    await until(
      () => texts(alice, bob.user.username).includes('from a contact, after the junk'),
      'the contact’s message',
    );
  });

  it('a first message whose prekey read fails once (an aborted read) comes again, not acknowledged away', async () => {
    const [alice, bob] = await pair();
    const get = alice.storage.get.bind(alice.storage);
    let failed = false;
    const spy = vi.spyOn(alice.storage, 'get').mockImplementation(async (key: string) => {
      if (!failed && key.startsWith('spk:')) {
        failed = true;
        throw new DOMException('the transaction was aborted', 'AbortError');
      }
      return get(key);
    });
    onTestFinished(() => spy.mockRestore());
    await faultThenBoth(alice, bob, () => failed, ['hello', 'second']);
  });

  it('a recipient mailbox that is full leaves the message queued with the reason, and it goes when there is room', async () => {
    const [alice, bob] = await pair();
    const a = alice.user.username;
    const b = bob.user.username;
    let refused = false;
    faultNextSocketSend(async () => {
      refused = true;
      throw apiErrorOf(
        409,
        { error: 'mailbox_full', message: 'too many unacknowledged messages' },
        'Conflict',
      );
    });
    const id = await alice.m.sendText(b, 'to a full mailbox');
    await until(() => refused, 'the refusal');
    const shown = () => alice.sinks.messages(b).value.find((m) => m.id === id);
    await until(() => shown()?.state === 'queued' && shown()?.error === 'mailbox_full', 'the reason');
    // It used to fail for good ("unknown"), holding every later message to Bob.
    await until(() => texts(bob, a).includes('to a full mailbox'), 'the message, without a retry by hand');
    expect(stateOf(alice, b, id)).not.toBe('failed');
  });
});
