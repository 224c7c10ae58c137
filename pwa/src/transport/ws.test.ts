// RelaySocket against a real WebSocket server on a local port (the `ws` package): auth is the
// first frame, the cursor is resumed, a dropped connection is re-established.
// @vitest-environment node
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket, { type WebSocket as NodeWebSocket, WebSocketServer } from 'ws';
import { RelaySocket, type ServerFrame, type SocketLike, sameOriginWsUrl } from './ws.ts';

let server: WebSocketServer | null = null;
let client: RelaySocket | null = null;
afterEach(async () => {
  client?.stop();
  await new Promise<void>((done) => (server ? server.close(() => done()) : done()));
  server = null;
});

async function listen(): Promise<{ url: string; connections: NodeWebSocket[]; firstFrames: unknown[] }> {
  const connections: NodeWebSocket[] = [];
  const firstFrames: unknown[] = [];
  server = new WebSocketServer({ port: 0, host: '127.0.0.1' });
  server.on('connection', (ws) => {
    connections.push(ws);
    ws.once('message', (data) => {
      const frame = JSON.parse(String(data)) as { type: string; token: string; cursor: number };
      firstFrames.push(frame);
      if (frame.token !== 'good') {
        ws.close(4401, 'unauthorized');
        return;
      }
      ws.send(JSON.stringify({ type: 'ready' }));
      ws.send(
        JSON.stringify({
          type: 'message',
          seq: frame.cursor + 1,
          id: 1,
          from: 'bob',
          body: 'AA==',
          created_at: '',
        }),
      );
    });
  });
  await new Promise<void>((done) => server?.once('listening', () => done()));
  const addr = server.address();
  if (typeof addr !== 'object' || !addr) throw new Error('no address');
  return { url: `ws://127.0.0.1:${addr.port}/ws`, connections, firstFrames };
}

const until = async (check: () => boolean) => {
  for (let i = 0; i < 200 && !check(); i++) await new Promise((r) => setTimeout(r, 10));
  expect(check()).toBe(true);
};

describe('RelaySocket', () => {
  it('authenticates with the first frame, resumes from the cursor and reconnects after a drop', async () => {
    const { url, connections, firstFrames } = await listen();
    const frames: ServerFrame[] = [];
    const statuses: string[] = [];
    let cursor = 5;
    client = new RelaySocket({
      url,
      token: async () => 'good',
      cursor: () => cursor,
      onFrame: (f) => {
        frames.push(f);
        if (typeof f.seq === 'number') cursor = f.seq;
      },
      onStatus: (s) => statuses.push(s),
      createSocket: (u) => new WebSocket(u) as unknown as SocketLike,
      backoff: { baseMs: 10, maxMs: 20 },
    });
    client.start();
    await until(() => frames.some((f) => f.type === 'message'));
    expect(firstFrames[0]).toEqual({ type: 'auth', token: 'good', cursor: 5 });
    expect(client.status).toBe('online');
    connections[0]?.terminate();
    await until(() => firstFrames.length === 2 && client?.status === 'online');
    expect(firstFrames[1]).toEqual({ type: 'auth', token: 'good', cursor: 6 });
    expect(statuses).toEqual(['connecting', 'online', 'offline', 'connecting', 'online']);
  });

  it('reports an auth failure (close 4401) and keeps retrying with backoff', async () => {
    const { url, firstFrames } = await listen();
    let failures = 0;
    client = new RelaySocket({
      url,
      token: async () => 'bad',
      cursor: () => 0,
      onFrame: () => {},
      onAuthFailed: () => {
        failures += 1;
      },
      createSocket: (u) => new WebSocket(u) as unknown as SocketLike,
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
