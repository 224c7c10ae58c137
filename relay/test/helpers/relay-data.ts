// Helpers for the keys/contacts/messages/photos/WebSocket tests: users with live sessions made
// directly in the database (the auth flow has its own tests), and a real `ws` client.
import { randomBytes, randomUUID } from 'node:crypto';
import { vi } from 'vitest';
import WebSocket from 'ws';
import { signAccessToken } from '../../src/auth/access-token.js';
import { publishedDeviceIds } from '../../src/devices/store.js';
import type { TestApp } from './app.js';

export const ORIGIN = 'http://localhost:8000';

// biome-ignore lint/suspicious/noExplicitAny: frames are arbitrary JSON that tests inspect freely.
export type Frame = any;

export interface DataUser {
  id: string;
  username: string;
  sessionId: string;
  token: string;
  /** The device the session is bound to (migration 0070); a user starts with device 1. */
  deviceId: number;
}

let counter = 0;

/**
 * An active user with one live session and its access token. The session is device-less, as
 * right after a login (spec/protocol.md §16), unless `device`: then the account has device 1 and
 * the session is bound to it, as after POST /keys (makeDeviceUser).
 */
export async function makeUser(
  t: TestApp,
  prefix = 'user',
  /** device: device 1 with the session bound to it; keys (default true with device): published. */
  opts: { device?: boolean; keys?: boolean } = {},
): Promise<DataUser> {
  const id = randomUUID();
  const username = `${prefix}${++counter}_${randomBytes(3).toString('hex')}`;
  await t.deps.pool.query(
    `INSERT INTO users (id, username, totp_secret, status, confirmed_at, next_device_id)
     VALUES ($1, $2, '\\x00', 'active', now(), $3)`,
    [id, username, opts.device ? 2 : 1],
  );
  if (opts.device) {
    await t.deps.pool.query(
      `INSERT INTO devices (user_id, device_id, name, kind) VALUES ($1, 1, 'Test device 1', 'other')`,
      [id],
    );
    if (opts.keys !== false) await publishKeys(t, id, 1);
  }
  const session = await newSession(t, id, { deviceId: opts.device ? 1 : null });
  return { id, username, ...session, deviceId: opts.device ? 1 : 0 };
}

/**
 * Publishes device `deviceId` of `userId` as POST /keys would (an identity key for the account if
 * it has none, both signed prekeys of the device; random bytes — the relay never looks inside),
 * so senders must include it (src/devices/store.ts publishedDeviceIds).
 */
export async function publishKeys(t: TestApp, userId: string, deviceId: number): Promise<void> {
  await t.deps.pool.query(
    'INSERT INTO identity_keys (user_id, public_key) VALUES ($1, $2) ON CONFLICT (user_id) DO NOTHING',
    [userId, randomBytes(32)],
  );
  await t.deps.pool.query(
    `INSERT INTO signed_prekeys (user_id, device_id, kind, key_id, public_key, signature)
     VALUES ($1, $2, 'x25519', 1, $3, $4), ($1, $2, 'mlkem768', 1, $5, $4) ON CONFLICT DO NOTHING`,
    [userId, deviceId, randomBytes(32), randomBytes(64), randomBytes(1184)],
  );
}

/** A user whose account has device 1 (published) and whose session is bound to it: may send and read mail. */
export const makeDeviceUser = (t: TestApp, prefix = 'user') => makeUser(t, prefix, { device: true });

/**
 * For a user made through the real auth flow (registration, login): its account gets device 1
 * (if it has none) and every live device-less session of it is bound to it, as POST /keys does
 * for a first device — for tests of sockets and mail that are not about keys.
 */
export async function bindSessionsToDevice(t: TestApp, username: string): Promise<void> {
  const r = await t.deps.pool.query<{ id: string; fresh: boolean }>(
    `WITH u AS (SELECT id FROM users WHERE username = $1),
          d AS (INSERT INTO devices (user_id, device_id, name, kind)
                SELECT id, 1, 'Test device 1', 'other' FROM u ON CONFLICT DO NOTHING RETURNING user_id),
          s AS (UPDATE sessions s SET device_id = 1 FROM u
                 WHERE s.user_id = u.id AND s.device_id IS NULL AND s.revoked_at IS NULL)
     SELECT u.id, EXISTS (SELECT 1 FROM d) AS fresh FROM u`,
    [username],
  );
  const row = r.rows[0];
  if (row?.fresh) await publishKeys(t, row.id, 1);
}

/**
 * Another linked device of `user`'s account (made directly in the database, as POST /keys
 * links one) with a live session bound to it: the same account seen from that device.
 */
export async function linkDevice(t: TestApp, user: DataUser): Promise<DataUser> {
  const r = await t.deps.pool.query<{ device_id: number }>(
    `WITH n AS (UPDATE users SET next_device_id = next_device_id + 1 WHERE id = $1 RETURNING next_device_id - 1 AS d)
     INSERT INTO devices (user_id, device_id, name, kind) SELECT $1, n.d, 'Test device ' || n.d, 'other' FROM n
     RETURNING device_id`,
    [user.id],
  );
  const deviceId = r.rows[0]?.device_id as number;
  await publishKeys(t, user.id, deviceId);
  const session = await newSession(t, user.id, { deviceId });
  return { ...user, ...session, deviceId };
}

/**
 * Another live session of `userId`, as a login makes it: freshly authenticated now
 * (`fresh: false` for one that has not proved the second factor recently), device-less unless
 * bound to device `deviceId` of the account.
 */
export async function newSession(
  t: TestApp,
  userId: string,
  opts: { fresh?: boolean; deviceId?: number | null } = {},
): Promise<{ sessionId: string; token: string }> {
  const sessionId = randomUUID();
  const now = new Date(t.clock.now());
  await t.deps.pool.query(
    `INSERT INTO sessions (id, user_id, created_at, expires_at, reauthenticated_at, device_id)
     VALUES ($1, $2, $3, $4, $5, $6)`,
    [
      sessionId,
      userId,
      now,
      new Date(t.clock.now() + 86_400_000),
      opts.fresh === false ? null : now,
      opts.deviceId ?? null,
    ],
  );
  const { token } = await signAccessToken(t.deps, { userId, sessionId });
  return { sessionId, token };
}

/**
 * A POST /send_message body (and WebSocket send frame's message): one copy per device in
 * `devices` (default: the recipient's device 1), sync copies for `own` device ids.
 */
export function sendBody(
  to: string,
  opts: { body?: string; clientId?: string; devices?: number[]; own?: number[] } = {},
): {
  to: string;
  client_id: string;
  messages: { device_id: number; body: string }[];
  own: { device_id: number; body: string }[];
} {
  const body = opts.body ?? b64(8);
  return {
    to,
    client_id: opts.clientId ?? randomUUID(),
    messages: (opts.devices ?? [1]).map((device_id) => ({ device_id, body })),
    own: (opts.own ?? []).map((device_id) => ({ device_id, body })),
  };
}

export const b64 = (n: number, fill?: number) =>
  (fill === undefined ? randomBytes(n) : Buffer.alloc(n, fill)).toString('base64');

/** The published device ids of `userId`'s account (active, complete bundle), ascending. */
export async function activeDevices(t: TestApp, userId: string): Promise<number[]> {
  return publishedDeviceIds(t.deps.pool, userId);
}

/** A send body for the current device lists: every device of `to`, and `from`'s other devices. */
export async function fanOut(
  t: TestApp,
  from: DataUser,
  to: string,
  opts: { body?: string; clientId?: string } = {},
): Promise<ReturnType<typeof sendBody>> {
  const r = await t.deps.pool.query<{ id: string }>('SELECT id FROM users WHERE username = $1', [to]);
  const devices = r.rows[0] ? await activeDevices(t, r.rows[0].id) : [1];
  // The sending device as the relay sees it (POST /keys may have bound the session since).
  const s = await t.deps.pool.query<{ device_id: number | null }>(
    'SELECT device_id FROM sessions WHERE id = $1',
    [from.sessionId],
  );
  const own = (await activeDevices(t, from.id)).filter((d) => d !== s.rows[0]?.device_id);
  return sendBody(to, { ...opts, devices, own });
}

/**
 * An ordering barrier on `client`'s stream, for proving that something did NOT arrive without
 * sleeping: `from` sends `to` (the client's user) a message, and this waits until the client
 * has it. The relay sends a stream strictly in seq order (src/ws/hub.ts, pump) and the barrier
 * has the highest seq so far, so anything due on this socket before it has arrived by then.
 * Returns the barrier's message id, to leave it out of the assertion.
 */
export async function streamBarrier(
  t: TestApp,
  from: DataUser,
  to: DataUser,
  client: WsClient,
): Promise<number> {
  const sent = await t.api.post('/send_message', await fanOut(t, from, to.username), {
    token: from.token,
  });
  if (sent.status !== 201) throw new Error(`barrier send failed: ${sent.status} ${sent.text}`);
  // The copy for the client's device (`to` is the client's user as seen from that device).
  const copies = sent.body.copies as { device_id: number; own: boolean; id: number }[];
  const id = copies.find((c) => !c.own && c.device_id === to.deviceId)?.id as number;
  await client.next((f) => f.type === 'message' && f.id === id);
  return id;
}

/** A real WebSocket client that records every frame it receives. */
export class WsClient {
  readonly frames: Frame[] = [];
  closeCode: number | undefined;
  private waiters: { pred: (f: Frame) => boolean; resolve: (f: Frame) => void }[] = [];
  private closeWaiters: ((code: number) => void)[] = [];

  private constructor(readonly ws: WebSocket) {
    ws.on('message', (data) => {
      const frame = JSON.parse(data.toString());
      this.frames.push(frame);
      this.waiters = this.waiters.filter((w) => {
        if (!w.pred(frame)) return true;
        w.resolve(frame);
        return false;
      });
    });
    ws.on('close', (code) => {
      this.closeCode = code;
      for (const w of this.closeWaiters) w(code);
    });
  }

  /** Opens a socket to `${baseUrl}${path}`; resolves once open, rejects with the HTTP status when refused. */
  static open(baseUrl: string, opts: { origin?: string | null; path?: string } = {}): Promise<WsClient> {
    const url = baseUrl.replace(/^http/, 'ws') + (opts.path ?? '/ws');
    const origin = opts.origin === undefined ? ORIGIN : opts.origin;
    const ws = new WebSocket(url, origin === null ? {} : { origin });
    return new Promise((resolve, reject) => {
      ws.once('open', () => resolve(new WsClient(ws)));
      ws.once('unexpected-response', (_req, res) => reject(new Error(`refused ${res.statusCode}`)));
      ws.once('error', reject);
    });
  }

  /** Opens, authenticates and waits for `ready`. */
  static async connect(baseUrl: string, token: string, cursor?: number): Promise<WsClient> {
    const c = await WsClient.open(baseUrl);
    c.send(cursor === undefined ? { type: 'auth', token } : { type: 'auth', token, cursor });
    await c.next((f) => f.type === 'ready');
    return c;
  }

  send(frame: unknown): void {
    this.ws.send(JSON.stringify(frame));
  }

  /** The first frame (already received or coming) matching `pred`. */
  next(pred: (f: Frame) => boolean, timeoutMs = 10_000): Promise<Frame> {
    const seen = this.frames.find(pred);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('timed out waiting for a frame')), timeoutMs);
      this.waiters.push({
        pred,
        resolve: (f) => {
          clearTimeout(timer);
          resolve(f);
        },
      });
    });
  }

  /** Waits until `n` frames matching `pred` have arrived; returns them in order. */
  async collect(pred: (f: Frame) => boolean, n: number, timeoutMs = 10_000): Promise<Frame[]> {
    await vi.waitFor(
      () => {
        const have = this.frames.filter(pred).length;
        if (have < n) throw new Error(`timed out: ${have}/${n} frames`);
      },
      { timeout: timeoutMs, interval: 10 },
    );
    return this.frames.filter(pred);
  }

  closed(timeoutMs = 10_000): Promise<number> {
    if (this.closeCode !== undefined) return Promise.resolve(this.closeCode);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('socket did not close')), timeoutMs);
      this.closeWaiters.push((code) => {
        clearTimeout(timer);
        resolve(code);
      });
    });
  }

  close(): void {
    this.ws.close();
  }
}
