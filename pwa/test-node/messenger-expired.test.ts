// Messages that expire on the relay before a device reads them (spec/openapi.yaml GET /ws, the
// `expired` item): the app shows, in the sender's chat, how many were lost and when they were
// sent, instead of nothing at all. Against a REAL relay of its own whose retention sweep runs
// every second: the test backdates the recipient's copies in the relay's database (time cannot
// be waited for), the relay's own sweep deletes them and writes the notice, and the recipient's
// app finds it when it comes online.
// @vitest-environment node
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { until } from '../../scripts/lib/until.mjs';
import { type RunningRelay, relayDb, startRelay } from '../e2e/relay.ts';
import type { AppNotice, ChatMessage } from '../src/state/types.ts';
import { device, setUpRelayDevices, stateOf } from '../src/test/messenger-devices.ts';
import { type RelayUser, registerOnRelay, relayOrigin } from '../src/test/relay.ts';

setUpRelayDevices();

let relay: RunningRelay;
let baseUrl: string;

beforeAll(async () => {
  relay = await startRelay(relayOrigin(), {
    RETENTION_DAYS: '1',
    SWEEP_INTERVAL_SECONDS: '1',
    REGISTER_IP_PER_HOUR: '10000',
  });
  baseUrl = `http://127.0.0.1:${relay.port}`;
}, 180_000);
afterAll(async () => {
  await relay?.stop();
});

/** `user`'s app on this file's relay, on a fresh store with its keys published, not online; the notices it gives. */
async function app(user: RelayUser) {
  const notices: AppNotice[] = [];
  const d = await device(user, user.api, {
    online: false,
    wsUrl: `${baseUrl.replace(/^http/, 'ws')}/ws`,
    onNotice: async (n) => {
      notices.push(n);
    },
  });
  return { ...d, notices };
}

describe('Messenger and messages that expired on the relay', () => {
  it('shows in the sender’s chat how many messages were deleted before this device received them', async () => {
    const alice = await registerOnRelay('exa', undefined, baseUrl);
    const bob = await registerOnRelay('exb', undefined, baseUrl);
    const a = await app(alice);
    const b = await app(bob);
    // Bob knows Alice (a contact), then is away; Alice writes twice.
    await b.m.addContact(alice.username);
    a.m.goOnline();
    await until(() => a.sinks.connection.value === 'online', 'alice online');
    await a.m.addContact(bob.username);
    const sent = [await a.m.sendText(bob.username, 'first'), await a.m.sendText(bob.username, 'second')];
    await until(() => sent.every((id) => stateOf(a, bob.username, id) === 'sent'), 'both sent');

    // Two days pass for Bob's copies: the relay's own sweep deletes them and notes it.
    const db = await relayDb(relay);
    try {
      const aged = await db.query(
        `UPDATE messages SET created_at = created_at - interval '2 days'
          WHERE receiver_id = (SELECT id FROM users WHERE username = $1)`,
        [bob.username],
      );
      expect(aged.rowCount).toBe(2);
      // (`until` takes a synchronous check: this one reads the database.)
      await vi.waitFor(
        async () => {
          const r = await db.query(
            `SELECT count(*)::int AS n FROM stream_events e JOIN users u ON u.id = e.user_id
              WHERE u.username = $1 AND e.kind = 'expired'`,
            [bob.username],
          );
          if (r.rows[0]?.n !== 1) throw new Error('timed out waiting for the relay to sweep the copies');
        },
        { timeout: 20_000, interval: 100 },
      );
    } finally {
      await db.end();
    }

    b.m.goOnline();
    const chat = () => b.sinks.messages(alice.username).value;
    await until(() => chat().some((x) => x.body.kind === 'expired'), 'the expired entry');
    const entry = chat().find((x) => x.body.kind === 'expired') as ChatMessage;
    expect(entry.body).toMatchObject({ kind: 'expired', count: 2 });
    expect(entry.contact).toBe(alice.username);
    // A timeline entry, not a message: nothing unread, and the texts themselves never arrived;
    // the chat list says that two expired, until the chat is read.
    expect(chat().filter((x) => x.body.kind === 'text')).toEqual([]);
    const summary = () => b.sinks.chats.value.find((c) => c.contact === alice.username);
    expect(summary()).toMatchObject({ unread: 0, expired: 2 });
    b.m.markRead(alice.username);
    await until(() => summary()?.expired === undefined, 'the chat read');
    expect(b.notices).toEqual([]);
    // Alice is not told: a block would otherwise look different from an absence.
    expect(a.sinks.messages(bob.username).value.map((x) => x.state)).toEqual(['sent', 'sent']);
  });
});
