// A HOSTILE relay against the PWA, beyond what SECURITY.md admits it can do (withhold, delay,
// reorder): each test failed before its fix. Two devices as in messenger.test.ts (real
// Messenger, real relay), but a frame the relay "sends" is delivered through the RelaySocket's
// own socket handler (onmessage), exactly as a frame off the wire is; hostile HTTP answers are
// spied. After the hostile step the relay is honest again: the damage must not outlive it.
// @vitest-environment node
import { describe, expect, it, onTestFinished, vi } from 'vitest';
import { until } from '../../../scripts/lib/until.mjs';
import { MAX_HELD_ONE_TIME, publishAccountKeys } from '../secure/account-keys.ts';
import { RECORD } from '../secure/records.ts';
import { SessionManager } from '../secure/session-manager.ts';
import { openIdbStorage } from '../storage/idb-storage.ts';
import {
  type Device,
  device,
  pair,
  setUpRelayDevices,
  start,
  stateOf,
  texts,
} from '../test/messenger-devices.ts';
import { registerOnRelay, registerWithDevice } from '../test/relay.ts';
import { ApiError } from '../transport/errors.ts';
import { SocketFirst } from '../transport/socket-first.ts';
import type { SocketLike } from '../transport/ws.ts';
import type { AckBatcher } from './messenger/acks.ts';
import { PrekeyUpkeep } from './messenger/prekey-upkeep.ts';

setUpRelayDevices();

// The Messenger's internals a frame goes through (private in TypeScript, reachable at run time).
interface Internals {
  socket: { socket: SocketLike | null } | null;
  incoming: { position: number; frames: Promise<void>; fetchedAll(): Promise<boolean> };
}
const internals = (d: Device) => d.m as unknown as Internals;

/** The relay sends `text` on the device's open socket; resolves once the stream handled it. */
async function relaySends(d: Device, text: string): Promise<void> {
  const socket = internals(d).socket?.socket;
  if (!socket?.onmessage) throw new Error('no open socket');
  socket.onmessage({ data: text });
  await internals(d).incoming.frames;
}

/** From now on the relay's contact list for `d`'s account also names `name`. */
async function listAsContact(d: Device, name: string): Promise<void> {
  const listed = await d.api.contacts();
  const contacts = vi
    .spyOn(d.api, 'contacts')
    .mockResolvedValue([...listed, { username: name, added_at: new Date().toISOString() }]);
  onTestFinished(() => contacts.mockRestore());
}

describe('a hostile relay against the PWA', () => {
  it.each([
    ['beyond 2^53', () => '9007199254740994'],
    ['a fraction', (d: Device) => String(internals(d).incoming.position + 0.5)],
  ])(
    'one stream item whose seq is %s does not leave the device deaf once the relay is honest again',
    async (_what, seqOf) => {
      const [alice, bob] = await pair(['ha', 'hb']);
      const a = alice.user.username;
      const b = bob.user.username;
      await alice.m.sendText(b, 'before');
      await until(() => texts(bob, a).includes('before'), 'first message');
      // The hostile relay: one key_change item (about nobody) with a hostile seq.
      await relaySends(
        bob,
        `{"type":"key_change","seq":${seqOf(bob)},"username":"nobody","created_at":"${new Date().toISOString()}"}`,
      );
      // From here on the relay is honest. Bob's app restarts (a reload) and reconnects.
      bob.m.stop();
      const again = await start(bob.user, bob.api, bob.storage, { online: false });
      // Evidence of the loop: the relay refuses the auth frame (its cursor fails the schema) with
      // 4401, the app refreshes its token and tries again, for ever.
      const refreshes = vi.spyOn(bob.api.http, 'refreshTokens');
      onTestFinished(() => refreshes.mockRestore());
      again.m.goOnline();
      await alice.m.sendText(b, 'after');
      await until(() => texts(again, a).includes('after'), 'bob still receives after the hostile frame', {
        timeoutMs: 15_000,
      });
      // One refresh at most (none is due): the relay took the auth frame at once.
      expect(refreshes.mock.calls.length).toBeLessThanOrEqual(1);
    },
  );

  it('a seq of 10^15 (a safe integer past the old HTTP cursor limit) does not stop expired signed prekeys from being deleted', async () => {
    const [alice, bob] = await pair(['ha', 'hb']);
    const a = alice.user.username;
    const b = bob.user.username;
    await relaySends(
      bob,
      `{"type":"key_change","seq":1000000000000000,"username":"nobody","created_at":"${new Date().toISOString()}"}`,
    );
    bob.m.stop();
    // Honest relay from here on: the socket's cursor (≤ 2^53) is read as 0, messages flow.
    const again = await start(bob.user, bob.api, bob.storage);
    await alice.m.sendText(b, 'after');
    await until(() => texts(again, a).includes('after'), 'bob receives');
    await expect.poll(async () => (await bob.api.messages(0)).messages.length, { timeout: 5000 }).toBe(0);
    // The mailbox is empty, and the device learns it: GET /get_messages?cursor=10^15 was a 400
    // (the HTTP cursor was at most 15 digits), so fetchedAll() stayed false and
    // PrekeyUpkeep.maintain() passed deleteExpired: false on every run (prekey-upkeep.ts).
    expect(await internals(again).incoming.fetchedAll()).toBe(true);
  });

  it('a forged "delivered" for a message whose send the relay refused neither hides its retry nor holds later messages', async () => {
    const [alice, bob] = await pair(['ha', 'hb']);
    const a = alice.user.username;
    const b = bob.user.username;
    // The hostile relay refuses one send with a permanent error (the message fails: retry button)…
    const sends = vi
      .spyOn(SocketFirst.prototype, 'sendMessage')
      .mockRejectedValueOnce(new ApiError(404, 'unknown_user', 'no such user'));
    onTestFinished(() => sends.mockRestore());
    const refused = await alice.m.sendText(b, 'refused by the relay');
    await until(() => stateOf(alice, b, refused) === 'failed', 'the send failed');
    sends.mockRestore();
    // …then says it was delivered (it knows the client_id from the refused send).
    await relaySends(
      alice,
      JSON.stringify({
        type: 'delivered',
        seq: internals(alice).incoming.position,
        message_id: 1,
        client_id: refused,
        to: b,
        created_at: new Date().toISOString(),
      }),
    );
    // The app itself knows this message never reached the relay.
    expect(stateOf(alice, b, refused), 'a message whose send failed shown as delivered').toBe('failed');
    // The relay is honest again: the user retries, and both messages reach Bob in order.
    const later = await alice.m.sendText(b, 'later');
    await alice.m.retry(refused);
    await until(() => texts(bob, a).includes('later'), 'the later message reaches bob', {
      timeoutMs: 15_000,
    });
    expect(texts(bob, a).slice(-2)).toEqual(['refused by the relay', 'later']);
    expect(stateOf(alice, b, later)).not.toBe('failed');
  });

  it('a relay that lists the user’s own name among the contacts opens no chat with oneself', async () => {
    const alice = await device(await registerOnRelay('hr'));
    const a = alice.user.username;
    const contacts = vi
      .spyOn(alice.api, 'contacts')
      .mockResolvedValue([{ username: a, added_at: new Date().toISOString() }]);
    onTestFinished(() => contacts.mockRestore());
    await alice.m.syncContacts();
    expect(alice.sinks.contacts.value).toEqual([]);
  });

  it('bundle fetches never followed by a message (anyone may make them) do not leave the device without one-time prekeys', async () => {
    // The device keeps at most MAX_HELD_ONE_TIME unused secrets; the secrets of prekeys handed
    // out and never used count too. Refusing to make more at the cap let anyone empty the
    // relay's stock for good by fetching bundles; the oldest now make room.
    const victim = await registerOnRelay('hv');
    const storage = await openIdbStorage(`hostile-prekeys-${crypto.randomUUID()}`);
    await publishAccountKeys(storage, victim.username, victim.api);
    const sm = new SessionManager(storage, victim.api);
    const upkeep = new PrekeyUpkeep({
      sm,
      api: victim.api,
      clock: Date.now,
      mailboxFetched: async () => true,
    });
    const attacker = await registerWithDevice('hx');
    for (let round = 0; round < 6; round++) {
      for (let i = 0; i < 100; i++) await attacker.api.bundles(victim.username);
      await upkeep.topUp(); // as on each prekeys_low item the relay sends
    }
    expect((await victim.api.keyStatus()).one_time_pq_prekeys).toBeGreaterThan(0);
    expect((await storage.list(RECORD.oneTimePqPreKeyPrefix)).length).toBeLessThanOrEqual(
      MAX_HELD_ONE_TIME.mlkem,
    );
  });
  it('a relay that lists a contact as blocked deletes neither the chat nor its history: it is marked blocked until the list no longer names it', async () => {
    const [alice, bob] = await pair(['hk', 'hl']);
    const a = alice.user.username;
    const b = bob.user.username;
    await bob.m.sendText(a, 'kept');
    await until(() => texts(alice, b).includes('kept'), 'bob’s message');
    await alice.m.sendText(b, 'mine');
    // The hostile relay: alice never blocked bob, but its block list names him.
    const blocks = vi
      .spyOn(alice.api, 'blocks')
      .mockResolvedValue([{ username: b, blockedAt: new Date().toISOString() }]);
    await alice.m.syncContacts();
    const contact = () => alice.sinks.contacts.value.find((c) => c.username === b);
    expect(contact()?.blocked).toBe(true);
    expect(texts(alice, b)).toEqual(['kept', 'mine']);
    // The relay lets bob's next message through: it is shown, with no delivery receipt.
    const acks = (alice.m as unknown as { acks: AckBatcher }).acks;
    const receipted = vi.spyOn(acks, 'message');
    const silent = vi.spyOn(acks, 'withoutReceipt');
    onTestFinished(() => {
      receipted.mockRestore();
      silent.mockRestore();
    });
    await bob.m.sendText(a, 'let through');
    await until(() => texts(alice, b).includes('let through'), 'the message the relay let through');
    await until(() => silent.mock.calls.length === 1, 'acknowledged');
    expect(receipted).not.toHaveBeenCalled();
    // Kept in storage too: a reload shows the same chat, still marked.
    alice.m.stop();
    const again = await start(alice.user, alice.api, alice.storage, { online: false });
    expect(again.sinks.contacts.value.find((c) => c.username === b)?.blocked).toBe(true);
    expect(texts(again, b)).toEqual(['kept', 'mine', 'let through']);
    // The relay is honest again: the mark goes, the chat and its history stay.
    blocks.mockRestore();
    await again.m.syncContacts();
    expect(again.sinks.contacts.value.find((c) => c.username === b)?.blocked).toBeUndefined();
    expect(texts(again, b)).toEqual(['kept', 'mine', 'let through']);
  });
  it('nothing queued for a contact goes out while the block list names them; it goes once the list no longer does', async () => {
    const [alice, bob] = await pair(['hm', 'hn']);
    const a = alice.user.username;
    const b = bob.user.username;
    const blocks = vi
      .spyOn(alice.api, 'blocks')
      .mockResolvedValue([{ username: b, blockedAt: new Date().toISOString() }]);
    onTestFinished(() => blocks.mockRestore());
    await alice.m.syncContacts();
    const id = await alice.m.sendText(b, 'held');
    await alice.m.outbox.flush();
    // Not sealed, not sent: held in the outbox, as for a key change.
    expect(stateOf(alice, b, id)).toBe('queued');
    expect((await alice.m.outbox.pending()).map((item) => [item.id, item.wire])).toEqual([[id, null]]);
    blocks.mockRestore();
    await alice.m.syncContacts();
    await until(() => texts(bob, a).includes('held'), 'the held message goes once unmarked');
  });
  it('a relay that lists a stranger as a contact cannot accept their request unseen: the chat says it was accepted elsewhere', async () => {
    const alice = await device(await registerOnRelay('ho'));
    const carol = await device(await registerOnRelay('hp'));
    const a = alice.user.username;
    const c = carol.user.username;
    await carol.m.addContact(a);
    await carol.m.sendText(a, 'hi, a stranger here');
    await until(() => texts(alice, c).includes('hi, a stranger here'), 'the request arrives');
    expect(alice.sinks.contacts.value.find((x) => x.username === c)?.request).toBe(true);
    // The hostile relay: alice never accepted carol, but its contact list names her.
    await listAsContact(alice, c);
    await alice.m.syncContacts();
    // The relay's word is followed (a request accepted on another device must not stay one)...
    expect(alice.sinks.contacts.value.find((x) => x.username === c)?.request).toBeUndefined();
    // ...but visibly: the chat says where the acceptance came from, after the request.
    const shown = alice.sinks.messages(c).value;
    expect(shown.map((m) => m.body.kind)).toEqual(['text', 'acceptedElsewhere']);
    // Stored: a reload shows it too, and a second read of the same list adds nothing.
    await alice.m.syncContacts();
    alice.m.stop();
    const again = await start(alice.user, alice.api, alice.storage, { online: false });
    expect(again.sinks.messages(c).value.map((m) => m.body.kind)).toEqual(['text', 'acceptedElsewhere']);
  });
  it('a relay that lists a stranger as a contact before they write cannot make them a contact unseen: the chat says it was added elsewhere', async () => {
    const alice = await device(await registerOnRelay('hq'));
    const carol = await device(await registerOnRelay('hr'));
    const a = alice.user.username;
    const c = carol.user.username;
    // The hostile relay: alice never added carol, but its contact list names her.
    await listAsContact(alice, c);
    await alice.m.syncContacts();
    await carol.m.addContact(a);
    await carol.m.sendText(a, 'hi, a stranger here');
    await until(() => texts(alice, c).includes('hi, a stranger here'), 'the message arrives');
    // Followed (a contact added on another device must be one here too), but visibly: the chat
    // says where the contact came from, before the stranger's message.
    const shown = alice.sinks.messages(c).value;
    expect(shown.map((m) => m.body)).toEqual([
      { kind: 'acceptedElsewhere', added: true },
      { kind: 'text', text: 'hi, a stranger here' },
    ]);
    // The user adding a contact on this device gets no such entry.
    const dave = await device(await registerOnRelay('hs'));
    await alice.m.addContact(dave.user.username);
    await alice.m.syncContacts();
    expect(alice.sinks.messages(dave.user.username).value).toEqual([]);
  });
});
