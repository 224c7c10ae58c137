// The app across an access token's expiry while its socket is open (spec/openapi.yaml GET /ws:
// the relay executes no frame and pushes nothing after the token the socket authenticated with
// has expired, and closes it with 4401). Against a REAL relay of its own, started with a short
// ACCESS_TOKEN_TTL_SECONDS and no periodic check (so the close comes from the app's own send
// frame meeting the expiry): the Messenger refreshes its token, reconnects, and the send caught
// by the close is stored exactly once; the next send goes over the new socket.
// @vitest-environment node
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { until } from '../../scripts/lib/until.mjs';
import { type RunningRelay, startRelay } from '../e2e/relay.ts';
import { publishAccountKeys } from '../src/secure/account-keys.ts';
import { Messenger } from '../src/state/messenger.ts';
import { openIdbStorage } from '../src/storage/idb-storage.ts';
import { registerOnRelay, relayOrigin } from '../src/test/relay.ts';
import { makeSinks } from '../src/test/sinks.ts';

/** Seconds an access token lives on this test's relay: long enough to connect and send once. */
const TOKEN_TTL_SECONDS = 8;

/** What the app did on each socket it opened, in order. */
interface SocketRecord {
  token: string | null;
  readonly written: string[];
  ready: boolean;
  closeCode: number | null;
}
const sockets: SocketRecord[] = [];

let relay: RunningRelay;
let baseUrl: string;
const g = globalThis as { WebSocket?: unknown };
const previousWebSocket = g.WebSocket;

beforeAll(async () => {
  relay = await startRelay(relayOrigin(), {
    ACCESS_TOKEN_TTL_SECONDS: String(TOKEN_TTL_SECONDS),
    WS_SESSION_CHECK_SECONDS: '3600',
    REGISTER_IP_PER_HOUR: '10000',
  });
  baseUrl = `http://127.0.0.1:${relay.port}`;
  // The browser's WebSocket, as `ws` with the Origin the relay allows, recording each socket.
  g.WebSocket = class extends WebSocket {
    constructor(url: string) {
      super(url, { origin: relayOrigin() });
      const record: SocketRecord = { token: null, written: [], ready: false, closeCode: null };
      sockets.push(record);
      const send = this.send.bind(this);
      this.send = ((data: string) => {
        const frame = JSON.parse(data) as { type: string; token?: string };
        record.written.push(frame.type);
        if (frame.type === 'auth') record.token = frame.token ?? null;
        send(data);
      }) as typeof this.send;
      this.on('message', (data) => {
        if ((JSON.parse(String(data)) as { type: string }).type === 'ready') record.ready = true;
      });
      this.on('close', (code) => {
        record.closeCode = code;
      });
    }
  };
}, 180_000);
afterAll(async () => {
  g.WebSocket = previousWebSocket;
  await relay?.stop();
});

const running: Messenger[] = [];
afterEach(() => {
  for (const m of running.splice(0)) m.stop();
});

/** The `exp` claim (seconds) of an access JWT. */
const expOf = (token: string): number =>
  (JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString()) as { exp: number }).exp;

/** The socket the app is online on now. */
const liveSocket = () => [...sockets].reverse().find((s) => s.ready && s.closeCode === null);

describe('Messenger across an access token expiry', () => {
  it('refreshes and reconnects after the relay closes the socket with 4401; the send caught by it is stored once', async () => {
    // Bob has keys on the relay and reads his mailbox over HTTP; only Alice's app has sockets.
    const bob = await registerOnRelay('teb', undefined, baseUrl);
    await publishAccountKeys(await openIdbStorage(`expiry-${bob.username}`), bob.username, bob.api);
    const alice = await registerOnRelay('tea', undefined, baseUrl);
    const storage = await openIdbStorage(`expiry-${alice.username}`);
    await publishAccountKeys(storage, alice.username, alice.api);
    const sinks = makeSinks();
    let ended = 0;
    const m = new Messenger({
      username: alice.username,
      storage,
      api: alice.api,
      sinks,
      wsUrl: `${baseUrl.replace(/^http/, 'ws')}/ws`,
      onSessionEnded: () => {
        ended += 1;
      },
      onNotice: async () => undefined,
    });
    running.push(m);
    await m.load();
    m.goOnline();
    await m.addContact(bob.username);
    await until(() => sinks.connection.value === 'online' && liveSocket() !== undefined, 'online');
    const first = liveSocket() as SocketRecord;
    const expiredToken = first.token as string;

    // The token this socket authenticated with expires while the socket stays open.
    await until(() => Date.now() >= expOf(expiredToken) * 1000 + 100, 'token expiry', {
      timeoutMs: (TOKEN_TTL_SECONDS + 10) * 1000,
    });
    const caught = await m.sendText(bob.username, 'sent after the token expired');
    const stateOf = (id: string) => sinks.messages(bob.username).value.find((x) => x.id === id)?.state;
    await until(() => stateOf(caught) === 'sent', 'first send accepted');
    // The relay closed that socket for its expired token; the app is online again on a new
    // socket, authenticated with a fresh token.
    expect(first.closeCode).toBe(4401);
    // …at the send frame it wrote after the expiry, which the relay did not execute.
    expect(first.written).toEqual(['auth', 'send']);
    await until(() => sinks.connection.value === 'online' && liveSocket() !== undefined, 'back online');
    const second = liveSocket() as SocketRecord;
    expect(second).not.toBe(first);
    expect(second.token).not.toBe(expiredToken);

    const next = await m.sendText(bob.username, 'sent over the new socket');
    await until(() => stateOf(next) === 'sent', 'second send accepted');
    expect(second.written).toContain('send');
    // Both stored once each: the send caught by the close was neither lost nor duplicated.
    const held = (await bob.api.messages(0)).messages;
    expect(held).toHaveLength(2);
    expect(new Set(held.map((x) => x.id)).size).toBe(2);
    expect(ended).toBe(0);
    // One socket at a time: every earlier one is closed.
    expect(sockets.filter((s) => s.closeCode === null)).toEqual([second]);
  });
});
