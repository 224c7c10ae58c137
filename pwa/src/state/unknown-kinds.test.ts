// A stored row of a kind this build does not know — written by a later build (a new timeline
// entry, say) and read after the app went back to this one, as a rolled-back deploy does — is
// skipped where history is read: the app opens, the chat shows the rest, an archive reads, and a
// link carries none of it (outbox/records.ts, isKnownMessage); it stays out of memory whatever
// brings it there (a receipt), and an outbox item of an unknown kind is left alone (isKnownItem).
// Real Messengers against the real relay.
// @vitest-environment node
import { expect, it, vi } from 'vitest';
import { until } from '../../../scripts/lib/until.mjs';
import { RECORD as OUTBOX, type OutboxItem, type StoredMessage } from '../outbox/records.ts';
import { pair, setUpRelayDevices, start, stateOf, texts } from '../test/messenger-devices.ts';
import { readArchive } from './archive.ts';
import { collectPayload } from './devices.ts';

setUpRelayDevices();

it('a row of an unknown kind is skipped on load, in an archive and in a link payload', async () => {
  const [alice, bob] = await pair(['uk', 'ul']);
  const b = bob.user.username;
  await bob.m.sendText(alice.user.username, 'hello from bob');
  await until(() => texts(alice, b).includes('hello from bob'), 'bob’s message');
  const chatId = alice.m.sm.knownPeer(b)?.chatId ?? '';
  const now = Date.now();
  await alice.storage.putMessage(chatId, 'later-kind', {
    id: 'later-kind',
    contact: b,
    direction: 'in',
    at: now,
    storedAt: now,
    state: 'delivered',
    body: { kind: 'poll', question: 'a kind of a later build' },
  });
  alice.m.stop();

  const again = await start(alice.user, alice.api, alice.storage, { online: false });
  expect(texts(again, b)).toEqual(['hello from bob']);
  expect(again.sinks.messages(b).value.map((m) => m.id)).not.toContain('later-kind');
  expect(again.sinks.chats.value.find((c) => c.contact === b)?.last?.preview).toBe('hello from bob');

  const archive = await readArchive(alice.storage, 'archive', now);
  expect(archive.chats.flatMap((c) => c.messages.map((m) => m.id))).not.toContain('later-kind');

  const payload = await collectPayload(alice.storage, true);
  expect(payload.history.map((m) => m.text)).toEqual(['hello from bob']);
});

/** A message row of a kind a later build writes. */
const laterRow = (id: string, contact: string, state: StoredMessage['state'], at: number) => ({
  id,
  contact,
  direction: 'out',
  at,
  storedAt: at,
  state,
  body: { kind: 'poll', question: 'a kind of a later build' },
});

it('an outbox item of an unknown kind is left alone: the chat sends what comes after it', async () => {
  const [alice, bob] = await pair(['um', 'un']);
  const a = alice.user.username;
  const b = bob.user.username;
  const chatId = alice.m.sm.knownPeer(b)?.chatId ?? '';
  const now = Date.now();
  const item = {
    id: 'later-kind',
    contact: b,
    chatId,
    kind: 'poll',
    createdAt: now,
    wire: null,
    failed: null,
  };
  await alice.storage.write([
    { kind: 'putMessage', chat: chatId, id: 'later-kind', value: laterRow('later-kind', b, 'queued', now) },
    { kind: 'put', key: OUTBOX.outbox('later-kind'), value: item as unknown as OutboxItem },
  ]);
  alice.m.stop();
  const again = await start(alice.user, alice.api, alice.storage);
  await again.m.outbox.flush();
  const id = await again.m.sendText(b, 'after the rollback');
  await until(() => texts(bob, a).includes('after the rollback'), 'the later message');
  expect(stateOf(again, b, id)).toMatch(/sent|delivered/);
  // Kept as it was, for the build that knows it.
  expect(await alice.storage.get(OUTBOX.outbox('later-kind'))).toEqual(item);
  expect(texts(again, b)).toEqual(['after the rollback']);
});

it('a delivery receipt for a row of an unknown kind does not bring it into the chat', async () => {
  const [alice, bob] = await pair(['uo', 'up']);
  const a = alice.user.username;
  const b = bob.user.username;
  const chatId = alice.m.sm.knownPeer(b)?.chatId ?? '';
  // Sent while bob is away; then its row is rewritten as a later build's kind.
  bob.m.stop();
  const id = await alice.m.sendText(b, 'sent by a later build');
  await until(() => stateOf(alice, b, id) === 'sent', 'sent');
  const row = await alice.storage.getMessage<StoredMessage>(id);
  await alice.storage.putMessage(chatId, id, {
    ...laterRow(id, b, 'sent', row?.at ?? 0),
    relayId: row?.relayId,
  });
  alice.m.stop();
  const again = await start(alice.user, alice.api, alice.storage);
  // Bob comes back and acknowledges it: alice gets its receipt.
  const bobAgain = await start(bob.user, bob.api, bob.storage);
  await until(() => bobAgain.sinks.messages(a).value.length > 0, 'bob got it');
  await vi.waitFor(
    async () => expect((await alice.storage.getMessage<StoredMessage>(id))?.state).toBe('delivered'),
    { timeout: 20_000, interval: 10 },
  );
  expect(texts(again, b)).toEqual([]);
  await again.m.sendText(b, 'after the receipt');
  await until(() => texts(bobAgain, a).includes('after the receipt'), 'the next message');
  expect(texts(again, b)).toEqual(['after the receipt']);
});
