// A stored row of a kind this build does not know — written by a later build (a new timeline
// entry, say) and read after the app went back to this one, as a rolled-back deploy does — is
// skipped where history is read: the app opens, the chat shows the rest, an archive reads, and a
// link carries none of it (outbox/records.ts, isKnownMessage). Real Messengers against the real relay.
// @vitest-environment node
import { expect, it } from 'vitest';
import { until } from '../../../scripts/lib/until.mjs';
import { pair, setUpRelayDevices, start, texts } from '../test/messenger-devices.ts';
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
