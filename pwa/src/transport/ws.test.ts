// RelaySocket against the REAL relay's WebSocket (test-relay/global-setup.ts), through Node's
// `ws` client (the browser's WebSocket has the same surface; `ws` lets the test set the Origin
// the relay checks). What the client sends is recorded on the client side of the real socket.
// @vitest-environment node
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { until } from '../../../scripts/lib/until.mjs';
import { registerWithDevice, relayOrigin, relayWsUrl, toDevice1 } from '../test/relay.ts';
import { RelaySocket, type ServerFrame, type SocketLike, sameOriginWsUrl } from './ws.ts';

let client: RelaySocket | null = null;
afterEach(() => {
  client?.stop();
  client = null;
});

/** Real sockets to the relay, each recording the frames the client sent on it. */
function recordingSockets() {
  const sockets: WebSocket[] = [];
  const firstFrames: unknown[] = [];
  const createSocket = (url: string): SocketLike => {
    const ws = new WebSocket(url, { origin: relayOrigin() });
    const index = sockets.push(ws) - 1;
    const send = ws.send.bind(ws);
    ws.send = ((data: string) => {
      if (firstFrames.length === index) firstFrames.push(JSON.parse(data));
      send(data);
    }) as typeof ws.send;
    return ws as unknown as SocketLike;
  };
  return { sockets, firstFrames, createSocket };
}

describe('RelaySocket', () => {
  it('authenticates with the first frame, resumes from the cursor and reconnects after a drop', async () => {
    const alice = await registerWithDevice('wsa');
    const bob = await registerWithDevice('wsb');
    const { sockets, firstFrames, createSocket } = recordingSockets();
    const frames: ServerFrame[] = [];
    const statuses: string[] = [];
    let cursor = 0;
    client = new RelaySocket({
      url: relayWsUrl(),
      token: async () => bob.api.http.accessToken,
      cursor: () => cursor,
      onFrame: (f) => {
        frames.push(f);
        if (typeof f.seq === 'number') cursor = f.seq;
      },
      onStatus: (s) => statuses.push(s),
      createSocket,
      backoff: { baseMs: 10, maxMs: 20 },
    });
    client.start();
    await until(() => client?.status === 'online');
    await alice.api.sendMessage(bob.username, 'c1', toDevice1(new Uint8Array([1])));
    await until(() => frames.some((f) => f.type === 'message'));
    const token = bob.api.http.accessToken;
    expect(firstFrames[0]).toEqual({ type: 'auth', token, cursor: 0 });
    expect(client.status).toBe('online');
    expect(cursor).toBeGreaterThan(0);
    const resumeAt = cursor;
    // The connection drops (no close handshake): the client reconnects from where it was.
    sockets[0]?.terminate();
    await until(() => firstFrames.length === 2 && client?.status === 'online');
    expect(firstFrames[1]).toEqual({ type: 'auth', token, cursor: resumeAt });
    expect(statuses).toEqual(['connecting', 'online', 'offline', 'connecting', 'online']);
    // Resumed from the cursor: the message already seen is not delivered again.
    await alice.api.sendMessage(bob.username, 'c2', toDevice1(new Uint8Array([2])));
    await until(() => frames.filter((f) => f.type === 'message').length === 2);
    expect(frames.filter((f) => f.type === 'message').map((f) => f.seq)).toEqual([resumeAt, resumeAt + 1]);
  });

  it('reports an auth failure (close 4401) and keeps retrying with backoff', async () => {
    const { firstFrames, createSocket } = recordingSockets();
    let failures = 0;
    client = new RelaySocket({
      url: relayWsUrl(),
      token: async () => 'bad',
      cursor: () => 0,
      onFrame: () => {},
      onAuthFailed: () => {
        failures += 1;
      },
      createSocket,
      backoff: { baseMs: 5, maxMs: 10 },
    });
    client.start();
    await until(() => failures >= 2);
    expect(firstFrames.length).toBeGreaterThanOrEqual(2);
    expect(client.status).not.toBe('online');
  });

  it('never puts the token in the URL', () => {
    expect(sameOriginWsUrl('/api/ws', { protocol: 'https:', host: 'drop.example' })).toBe(
      'wss://drop.example/api/ws',
    );
    expect(sameOriginWsUrl('/api/ws', { protocol: 'http:', host: 'localhost:5173' })).toBe(
      'ws://localhost:5173/api/ws',
    );
  });
});
