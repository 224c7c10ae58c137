// Helpers for the keys/contacts/messages/photos/WebSocket tests: users with live sessions made
// directly in the database (the auth flow has its own tests), and a real `ws` client.
import { randomBytes, randomUUID } from 'node:crypto';
import WebSocket from 'ws';
import { signAccessToken } from '../../src/auth/access-token.js';
import type { TestApp } from './app.js';

export const ORIGIN = 'http://localhost:8000';

// biome-ignore lint/suspicious/noExplicitAny: frames are arbitrary JSON that tests inspect freely.
export type Frame = any;

export interface DataUser {
  id: string;
  username: string;
  sessionId: string;
  token: string;
}

let counter = 0;

/** An active user with one live session and its access token. */
export async function makeUser(t: TestApp, prefix = 'user'): Promise<DataUser> {
  const id = randomUUID();
  const username = `${prefix}${++counter}_${randomBytes(3).toString('hex')}`;
  await t.deps.pool.query(
    `INSERT INTO users (id, username, totp_secret, status, confirmed_at) VALUES ($1, $2, '\\x00', 'active', now())`,
    [id, username],
  );
  const session = await newSession(t, id);
  return { id, username, ...session };
}

/**
 * Another live session (device) of `userId`, as a login makes it: freshly authenticated now
 * (`fresh: false` for one that has not proved the second factor recently).
 */
export async function newSession(
  t: TestApp,
  userId: string,
  opts: { fresh?: boolean } = {},
): Promise<{ sessionId: string; token: string }> {
  const sessionId = randomUUID();
  const now = new Date(t.clock.now());
  await t.deps.pool.query(
    'INSERT INTO sessions (id, user_id, created_at, expires_at, reauthenticated_at) VALUES ($1, $2, $3, $4, $5)',
    [sessionId, userId, now, new Date(t.clock.now() + 86_400_000), opts.fresh === false ? null : now],
  );
  const { token } = await signAccessToken(t.deps, { userId, sessionId });
  return { sessionId, token };
}

export const b64 = (n: number, fill?: number) =>
  (fill === undefined ? randomBytes(n) : Buffer.alloc(n, fill)).toString('base64');

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
    const deadline = Date.now() + timeoutMs;
    while (this.frames.filter(pred).length < n) {
      if (Date.now() > deadline) throw new Error(`timed out: ${this.frames.filter(pred).length}/${n} frames`);
      await new Promise((r) => setTimeout(r, 10));
    }
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
