// WebSocket limits beyond ws.test.ts (spec/openapi.yaml GET /ws, spec/ws-frames.schema.json
// CloseCode): a socket does not outlive its access token (SECURITY.md "Limits of TOTP-only
// login"); one client address holds a bounded number of sockets and HTTP requests in progress;
// and a client that sends frames but never reads what the relay sends is cut at the 8 MiB
// buffer rule (1013) while the relay keeps serving everyone else.
import { connect as netConnect, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it, onTestFinished, vi } from 'vitest';
import WebSocket from 'ws';
import { startTestApp, type TestApp } from './helpers/app.js';
import { fromIp } from './helpers/auth-flow.js';
import { freshDatabase, type TestDatabase } from './helpers/db.js';
import {
  b64,
  type DataUser,
  makeDeviceUser,
  newSession,
  ORIGIN,
  sendBody,
  WsClient,
} from './helpers/relay-data.js';

let db: TestDatabase;

beforeAll(async () => {
  db = await freshDatabase();
});
afterAll(async () => {
  await db?.drop();
});

/** A relay for one test, closed when the test ends. */
async function app(env: Record<string, string>): Promise<TestApp> {
  const t = await startTestApp({ databaseUrl: db.url, env: { SEND_RATE_BURST: '1000', ...env } });
  onTestFinished(() => t.close());
  return t;
}

/** Messages `from` has stored with `clientId` (whatever their state). */
async function storedWith(t: TestApp, from: DataUser, clientId: string): Promise<number> {
  const r = await t.deps.pool.query('SELECT 1 FROM messages WHERE sender_id = $1 AND client_id = $2', [
    from.id,
    clientId,
  ]);
  return r.rowCount ?? 0;
}

describe('a socket does not outlive its access token', () => {
  it('refuses a send frame that arrives after the token expired: closed 4401, nothing stored', async () => {
    // The periodic check is far away: only the frame itself meets the expiry.
    const t = await app({ ACCESS_TOKEN_TTL_SECONDS: '60', WS_SESSION_CHECK_SECONDS: '3600' });
    const alice = await makeDeviceUser(t);
    const bob = await makeDeviceUser(t);
    const ws = await WsClient.connect(t.baseUrl, alice.token);
    // Before expiry the socket sends.
    ws.send({ type: 'send', id: 1, message: sendBody(bob.username, { clientId: 'before' }) });
    expect((await ws.next((f) => f.type === 'response' && f.id === 1)).status).toBe(201);

    t.clock.advance(61_000);
    ws.send({ type: 'send', id: 2, message: sendBody(bob.username, { clientId: 'after' }) });
    expect(await ws.closed()).toBe(4401);
    expect(ws.frames.some((f) => f.type === 'response' && f.id === 2)).toBe(false);
    expect(await storedWith(t, alice, 'after')).toBe(0);
    // The same send over HTTP with a fresh token is new, not a duplicate: the frame did nothing.
    const fresh = await newSession(t, alice.id, { deviceId: 1 });
    const res = await t.api.post('/send_message', sendBody(bob.username, { clientId: 'after' }), {
      token: fresh.token,
    });
    expect([res.status, res.body.duplicate]).toEqual([201, false]);
  });

  it('refuses an ack frame and a catch_up after expiry the same way', async () => {
    const t = await app({ ACCESS_TOKEN_TTL_SECONDS: '60', WS_SESSION_CHECK_SECONDS: '3600' });
    const bob = await makeDeviceUser(t);
    const a = await WsClient.connect(t.baseUrl, bob.token);
    const bob2 = await newSession(t, bob.id, { deviceId: 1 });
    const c = await WsClient.connect(t.baseUrl, bob2.token);
    t.clock.advance(61_000);
    a.send({ type: 'ack', id: 1, ack: { ids: [] } });
    c.send({ type: 'catch_up', cursor: 0 });
    expect([await a.closed(), await c.closed()]).toEqual([4401, 4401]);
    expect(a.frames.some((f) => f.type === 'response')).toBe(false);
  });

  it('pushes nothing to a socket whose token expired: it is closed 4401 instead', async () => {
    const t = await app({ ACCESS_TOKEN_TTL_SECONDS: '60', WS_SESSION_CHECK_SECONDS: '3600' });
    const alice = await makeDeviceUser(t);
    const bob = await makeDeviceUser(t);
    const ws = await WsClient.connect(t.baseUrl, bob.token);
    t.clock.advance(61_000);
    const fresh = await newSession(t, alice.id, { deviceId: 1 });
    const res = await t.api.post('/send_message', sendBody(bob.username), { token: fresh.token });
    expect(res.status).toBe(201);
    expect(await ws.closed()).toBe(4401);
    expect(ws.frames.filter((f) => f.type === 'message')).toEqual([]);
  });

  it('closes an idle socket with 4401 at the periodic check once its token expired', async () => {
    const t = await app({ ACCESS_TOKEN_TTL_SECONDS: '60', WS_SESSION_CHECK_SECONDS: '1' });
    const bob = await makeDeviceUser(t);
    const ws = await WsClient.connect(t.baseUrl, bob.token);
    t.clock.advance(61_000);
    expect(await ws.closed()).toBe(4401);
  });
});

/** An upgrade to /ws that appears to come from `ip` (the test reaches the relay via loopback, a trusted proxy). */
function openFrom(t: TestApp, ip: string): Promise<WebSocket> {
  const ws = new WebSocket(`${t.baseUrl.replace(/^http/, 'ws')}/ws`, { origin: ORIGIN, headers: fromIp(ip) });
  return new Promise((resolve, reject) => {
    ws.once('open', () => resolve(ws));
    ws.once('unexpected-response', (_req, res) => {
      let text = '';
      res.on('data', (d: Buffer) => {
        text += d.toString();
      });
      res.on('end', () =>
        reject(Object.assign(new Error(`refused ${res.statusCode}`), { status: res.statusCode, text })),
      );
    });
    ws.once('error', reject);
  });
}

const closeWs = (ws: WebSocket) =>
  new Promise<void>((r) => {
    if (ws.readyState === ws.CLOSED) return r();
    ws.once('close', () => r());
    ws.close();
  });

describe('per-address caps', () => {
  it('refuses a WebSocket beyond WS_MAX_CONNECTIONS_PER_IP from one address with a JSON 429, counting down on close', async () => {
    const t = await app({ WS_MAX_CONNECTIONS_PER_IP: '3' });
    const held = await Promise.all([1, 2, 3].map(() => openFrom(t, '203.0.113.7')));
    const refused = (await openFrom(t, '203.0.113.7').catch((e: unknown) => e)) as {
      status: number;
      text: string;
    };
    expect(refused.status).toBe(429);
    expect(JSON.parse(refused.text)).toEqual({
      error: 'too_many_connections',
      message: expect.any(String),
    });
    // Another address is not affected.
    await closeWs(await openFrom(t, '203.0.113.8'));
    // Closing one frees its place.
    await closeWs(held[0] as WebSocket);
    await vi.waitFor(async () => closeWs(await openFrom(t, '203.0.113.7')), {
      timeout: 10_000,
      interval: 20,
    });
    await Promise.all(held.map(closeWs));
  });

  it('does not believe X-Forwarded-For from an address that is not a trusted proxy', async () => {
    const t = await app({ WS_MAX_CONNECTIONS_PER_IP: '2', TRUST_PROXY: '' });
    const held = [await openFrom(t, '203.0.113.1'), await openFrom(t, '203.0.113.2')];
    // A third "address" is the same loopback client.
    await expect(openFrom(t, '203.0.113.3')).rejects.toThrow('refused 429');
    await Promise.all(held.map(closeWs));
  });

  it('answers 429 too_many_requests beyond HTTP_MAX_REQUESTS_PER_IP requests in progress from one address', async () => {
    const t = await app({ HTTP_MAX_REQUESTS_PER_IP: '2' });
    const port = Number(new URL(t.baseUrl).port);
    // Two requests whose bodies never arrive: in progress until the body deadline.
    const stalled: Socket[] = [];
    for (let i = 0; i < 2; i++) {
      const s = netConnect(port, '127.0.0.1');
      await new Promise((r) => s.once('connect', r));
      s.write(
        'POST /register HTTP/1.1\r\nHost: relay\r\nX-Forwarded-For: 203.0.113.9\r\n' +
          'Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{',
      );
      stalled.push(s);
    }
    await vi.waitFor(
      async () => {
        const r = await t.api.get('/health', { headers: fromIp('203.0.113.9'), spec: false });
        expect(r.status).toBe(429);
        expect(r.body).toEqual({ error: 'too_many_requests', message: expect.any(String) });
      },
      { timeout: 10_000, interval: 20 },
    );
    expect((await t.api.get('/health', { headers: fromIp('203.0.113.10') })).status).toBe(200);
    for (const s of stalled) s.destroy();
    await vi.waitFor(
      async () => expect((await t.api.get('/health', { headers: fromIp('203.0.113.9') })).status).toBe(200),
      { timeout: 10_000, interval: 20 },
    );
  });
});

describe('a logout while a socket authenticates', () => {
  it('is not missed: a revocation heard between the session check and the socket joining its user closes it', async () => {
    // The periodic check is far away: only the hub's own handling can close the socket.
    const t = await app({ WS_SESSION_CHECK_SECONDS: '3600' });
    const alice = await makeDeviceUser(t);
    const pool = t.deps.pool;
    const query = pool.query.bind(pool) as (...args: unknown[]) => Promise<unknown>;
    let armed = true;
    // The socket's session check answers "live"; before that answer reaches the hub, the session
    // is revoked and the relay has heard the revocation (its NOTIFY) — the window a logout on
    // another device can fall in.
    (pool as unknown as { query: typeof query }).query = async (...args: unknown[]) => {
      const first = args[0] as { name?: string } | string;
      const isCheck = typeof first === 'object' && first?.name === 'auth_session_live_device';
      const result = await query(...args);
      if (!(armed && isCheck)) return result;
      armed = false;
      const heard = new Promise<void>((resolve) => {
        const stop = t.deps.notifier.subscribe((e) => {
          if (e.kind === 'revoked') {
            stop();
            resolve();
          }
        });
      });
      await query(`UPDATE sessions SET revoked_at = now(), revoked_reason = 'logout' WHERE id = $1`, [
        alice.sessionId,
      ]);
      await heard;
      return result;
    };
    onTestFinished(() => {
      (pool as unknown as { query: typeof query }).query = query;
    });
    const ws = await WsClient.open(t.baseUrl);
    ws.send({ type: 'auth', token: alice.token });
    expect(await ws.closed()).toBe(4403);
    expect(armed).toBe(false);
  });
});

describe('before authentication', () => {
  it('a stranger is cut once it has sent more than pre-auth frames could need, whole or in unfinished fragments', async () => {
    // The auth deadline is far away: only the byte cap can end these sockets.
    const t = await app({ WS_AUTH_TIMEOUT_MS: '60000' });
    const chunk = 'x'.repeat(16 * 1024);
    for (const whole of [false, true]) {
      const c = await WsClient.open(t.baseUrl);
      c.ws.on('error', () => undefined);
      const closed = new Promise<void>((resolve) => c.ws.once('close', () => resolve()));
      // 192 KiB: unfinished fragments of one message (never parsed, so no frame rule sees them),
      // or one whole frame sent in pieces.
      for (let i = 0; i < 12; i++) c.ws.send(chunk, { fin: whole && i === 11 });
      await closed;
    }
    // The relay serves on; a client that authenticates is not cut by its auth frame.
    const alice = await makeDeviceUser(t);
    const bob = await makeDeviceUser(t);
    const ok = await WsClient.connect(t.baseUrl, alice.token);
    // And once live, a large send frame is taken.
    ok.send({ type: 'send', id: 1, message: sendBody(bob.username, { body: b64(40_000) }) });
    expect((await ok.next((f) => f.type === 'response' && f.id === 1)).status).toBe(201);
  });
});

describe('a refused upgrade', () => {
  it('a client that resets the connection right after its upgrade is refused does not end the relay', async () => {
    // Node's HTTP server stops handling a socket's errors once it hands it to 'upgrade'. A reset
    // read after a refusal (403, 400, 404, 429) was then an unhandled 'error' event, which ends
    // the process: any unauthenticated client could stop the relay.
    const t = await app({ WS_MAX_CONNECTIONS_PER_IP: '1' });
    const port = Number(new URL(t.baseUrl).port);
    const held = await openFrom(t, '203.0.113.20');
    // Every server-side socket, to wait until it is closed ('error' always comes before 'close').
    const serverSockets: Promise<void>[] = [];
    const track = (socket: Socket) => {
      serverSockets.push(new Promise((r) => socket.once('close', () => r())));
    };
    t.server.on('connection', track);
    const uncaught: unknown[] = [];
    const onUncaught = (err: unknown) => uncaught.push(err);
    process.on('uncaughtException', onUncaught);
    onTestFinished(() => {
      process.off('uncaughtException', onUncaught);
      t.server.off('connection', track);
    });
    const refused: [path: string, origin: string, extra: string][] = [
      ['/ws', 'http://evil.example', ''], // 403 origin
      ['/ws?token=x', ORIGIN, ''], // 400 query
      ['/wsx', ORIGIN, ''], // 404 path
      ['/ws', ORIGIN, 'X-Forwarded-For: 203.0.113.20\r\n'], // 429 per address
    ];
    const rounds = 10;
    for (let round = 0; round < rounds; round++)
      for (const [path, origin, extra] of refused) {
        const s = netConnect(port, '127.0.0.1');
        s.on('error', () => undefined);
        await new Promise((r) => s.once('connect', r));
        s.write(
          `GET ${path} HTTP/1.1\r\nHost: relay\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
            `Origin: ${origin}\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n` +
            `Sec-WebSocket-Version: 13\r\n${extra}\r\n`,
        );
        s.resetAndDestroy();
      }
    await vi.waitFor(() => expect(serverSockets.length).toBeGreaterThanOrEqual(rounds * refused.length), {
      timeout: 10_000,
      interval: 20,
    });
    await Promise.all(serverSockets);
    expect(uncaught).toEqual([]);
    expect((await t.api.get('/health')).status).toBe(200);
    await closeWs(held);
  });
});

describe('a client that stops reading', () => {
  it('is cut with 1013 at the 8 MiB buffer rule while it keeps sending frames; the relay serves on', async () => {
    const t = await app({ MAX_MESSAGE_BYTES: '1048576' });
    const alice = await makeDeviceUser(t);
    const bob = await makeDeviceUser(t);
    const MESSAGES = 16;
    const body = b64(1_000_000); // ≈ 1.33 MB per stream item
    for (let i = 0; i < MESSAGES; i++) {
      const res = await t.api.post('/send_message', sendBody(bob.username, { clientId: `big${i}`, body }), {
        token: alice.token,
      });
      expect(res.status).toBe(201);
    }
    // Where bob's stream ends, as a reading client sees it.
    const reader = await WsClient.connect(t.baseUrl, bob.token);
    const head = (await reader.collect((f) => f.type === 'message', MESSAGES)).at(-1).seq as number;
    reader.close();
    // A real client, authenticated at the end of its stream, that then stops reading.
    const ws = new WebSocket(`${t.baseUrl.replace(/^http/, 'ws')}/ws`, { origin: ORIGIN });
    await new Promise((r) => ws.once('open', r));
    let messages = 0;
    let ready!: () => void;
    const isReady = new Promise<void>((r) => {
      ready = r;
    });
    ws.on('message', (d) => {
      const type = (JSON.parse(d.toString()) as { type: string }).type;
      if (type === 'message') messages++;
      if (type === 'ready') ready();
    });
    const closed = new Promise<number>((r) => ws.once('close', (code) => r(code)));
    ws.send(JSON.stringify({ type: 'auth', token: bob.token, cursor: head }));
    await isReady;
    const raw = (ws as unknown as { _socket: Socket })._socket;
    raw.pause();
    // A catch_up asks for the whole stream again (≈ 21 MB; catch_ups that arrive together are
    // served by one pass), acknowledgements add responses. The kernel's socket buffers take a
    // few MB before anything queues in the relay.
    for (let i = 0; i < 2; i++) ws.send(JSON.stringify({ type: 'catch_up', cursor: 0 }));
    for (let i = 0; i < 20; i++) ws.send(JSON.stringify({ type: 'ack', id: i, ack: { ids: [] } }));
    await vi.waitFor(() => expect(t.logs.some((l) => l.includes('too far behind'))).toBe(true), {
      timeout: 30_000,
      interval: 20,
    });
    raw.resume();
    expect(await closed).toBe(1013);
    // What was queued before the cut is delivered, then the close: it reconnects from its cursor.
    expect(messages).toBeGreaterThan(0);
    // The relay is healthy: it answers, and another socket of the same user gets the stream.
    expect((await t.api.get('/health')).status).toBe(200);
    const again = await WsClient.connect(t.baseUrl, bob.token);
    expect((await again.collect((f) => f.type === 'message', MESSAGES, 30_000)).length).toBe(MESSAGES);
    again.close();
  });
});

describe('a client that stops reading, pushed on the fast path', () => {
  it('is cut with 1013 when a pushed item (no read-back) leaves it past the 8 MiB rule, also for a copy from another process', async () => {
    // The fast path (src/ws/hub.ts) sends an item the event carries without reading the stream;
    // a small copy from another process now takes it too (src/notify/notifier.ts). The 8 MiB rule
    // must hold there as on a read-back. Stand-in for a client that has stopped reading: the
    // server side's bufferedAmount reads past the rule (filling 8 MiB plus the kernel's buffers
    // with small copies would take thousands of sends).
    const proto = WebSocket.prototype as unknown as { _isServer?: boolean };
    const real = Object.getOwnPropertyDescriptor(WebSocket.prototype, 'bufferedAmount') as PropertyDescriptor;
    let stuck = false;
    Object.defineProperty(proto, 'bufferedAmount', {
      configurable: true,
      get(this: { _isServer?: boolean }) {
        return stuck && this._isServer ? 9 * 1024 * 1024 : real.get?.call(this);
      },
    });
    onTestFinished(() => {
      Object.defineProperty(proto, 'bufferedAmount', real);
    });
    const one = await app({});
    const two = await app({});
    const alice = await makeDeviceUser(one);
    const bob = await makeDeviceUser(one);
    for (const t of [one, two]) {
      // At the head of its stream, so the next copy is the socket's next seq (the fast path).
      const r = await one.deps.pool.query<{ seq: string }>(
        'SELECT seq FROM user_streams WHERE user_id = $1',
        [bob.id],
      );
      const head = Number(r.rows[0]?.seq ?? 0);
      const ws = await WsClient.connect(t.baseUrl, bob.token, head);
      // The read that follows ready (nothing after the head) ends first.
      await new Promise((r) => setTimeout(r, 300));
      stuck = true;
      // Sent over HTTP: no response frame on the socket, only the pushed copy.
      const res = await one.api.post('/send_message', sendBody(bob.username, { body: b64(64) }), {
        token: alice.token,
      });
      expect(res.status).toBe(201);
      // Pushed (not read back), then cut.
      expect((await ws.next((f) => f.type === 'message')).seq).toBe(head + 1);
      expect(await ws.closed()).toBe(1013);
      stuck = false;
    }
  });
});
