// GET /ws (spec/openapi.yaml, spec/ws-frames.schema.json): real-time push of a user's stream.
// - The upgrade is refused unless the path is exactly /ws with no query string (a token never
//   travels in a URL, where proxies and logs keep it) and Origin is on WS_ALLOWED_ORIGINS.
// - The first frame must be {type:"auth", token, cursor?} within WS_AUTH_TIMEOUT_MS; nothing
//   is sent before it is verified (same check as requireAuth: JWT + live session).
// - The socket belongs to the session's device (409-like close 4409 while device-less): it gets
//   that device's message copies and the account's other stream items (migration 0071).
// - Then the socket receives its stream after `cursor` in seq order, and every later item as
//   the notifier announces it (src/notify); {type:"catch_up", cursor} rewinds.
// - Request frames {type:"send"|"ack", id, ...} are POST /send_message and POST /ack over the
//   open socket (src/messages/service.ts does the work for both); each gets one
//   {type:"response", id, status, body}. A malformed frame closes the socket with 4400.
// - Heartbeats: a ping every WS_HEARTBEAT_SECONDS; a socket that missed the last pong is cut.
// - Revoked sessions are closed at once (a trigger on sessions NOTIFYs, migration 0025) and
//   again checked every WS_SESSION_CHECK_SECONDS as a safety net (and for expiry).
// - A socket lives no longer than the access token it authenticated with (SECURITY.md "Limits
//   of TOTP-only login"): from the token's expiry on, nothing more is pushed and no frame is executed —
//   the socket is closed with 4401 instead, at the first frame or push after it and at the
//   latest by the next periodic check; the client refreshes its token and reconnects.
// - One client address (the same trusted-proxy rule as the HTTP routes: TRUST_PROXY) may hold
//   WS_MAX_CONNECTIONS_PER_IP sockets, authenticated or not; beyond, the upgrade is answered
//   429 too_many_connections.
// The per-user connection cap is per process (a user's sockets behind a load balancer may
// spread over processes; each process still bounds what it holds).
import { type IncomingMessage, type Server, STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';
import { type RawData, type WebSocket, WebSocketServer } from 'ws';
import {
  type AuthContext,
  assertSessionLive,
  authenticateToken,
  type TokenContext,
} from '../auth/require-auth.js';
import type { AppDeps } from '../deps.js';
import { compileTrust, upgradeClientIp } from '../http/client-ip.js';
import { HttpError } from '../http/http-error.js';
import { ACK_BODY_BYTES, deviceOf, messageService } from '../messages/service.js';
import { effectiveCursor, readStream } from '../messages/stream.js';
import type { RelayEvent } from '../notify/notifier.js';
import {
  CLOSE,
  type ClientFrame,
  type ControlFrame,
  FRAME_ENVELOPE_BYTES,
  MAX_CLIENT_FRAME_BYTES,
  MAX_CLIENT_FRAMES_PER_MINUTE,
  MAX_IN_FLIGHT_SEND_FRAMES,
  MAX_REQUESTS_IN_FLIGHT,
  parseClientFrame,
} from './frames.js';

/** Items read per stream query while catching up. */
const PAGE = 200;
/** A client this far behind (bytes queued in the socket) is cut; it reconnects and catches up. */
const MAX_BUFFERED_BYTES = 8 * 1024 * 1024;
/**
 * Bytes a socket may send before it is live: its auth frame and a few control frames while it is
 * checked, each at most MAX_CLIENT_FRAME_BYTES plus a frame header (14 bytes at most, RFC 6455
 * §5.2). ws holds a message until its last fragment, up to maxPayload — a send frame's size — so
 * without a count of the bytes themselves a stranger could make the relay hold that much per
 * socket until the auth deadline.
 */
const MAX_PRE_LIVE_BYTES = 4 * (MAX_CLIENT_FRAME_BYTES + 14);

/** Where a connection is in its life (spec/openapi.yaml GET /ws: auth, then ready). */
const ConnState = {
  /** Open; only an auth frame is accepted. */
  awaitingAuth: 'awaiting_auth',
  /** The auth frame is being checked; other frames are answered not_ready. */
  authenticating: 'authenticating',
  /** Authenticated: the stream is pushed and request frames are served. */
  live: 'live',
} as const;
type ConnState = (typeof ConnState)[keyof typeof ConnState];

interface Conn {
  ws: WebSocket;
  userId: string;
  sessionId: string;
  /** From this time (ms, deps.clock) the access token the socket authenticated with is refused. */
  tokenExpiresAtMs: number;
  /** The session's device: message copies of this device only (migration 0071). */
  deviceId: number;
  /** Last seq sent (or the client's cursor). */
  cursor: number;
  /** Bumped by catch_up so a pump in flight does not overwrite the rewound cursor. */
  gen: number;
  state: ConnState;
  alive: boolean;
  pumping: boolean;
  again: boolean;
  authTimer: NodeJS.Timeout | undefined;
  /** Control frames in the current minute (rate limit) and when that minute started. */
  frames: number;
  windowStart: number;
  /** Request frames not answered yet, and their size in bytes. */
  inFlight: number;
  inFlightBytes: number;
  /** Stops counting the bytes a socket sends before it is live (MAX_PRE_LIVE_BYTES). */
  stopCounting: () => void;
}

export interface WsHub {
  /** Sockets currently open (authenticated or not). */
  size(): number;
  close(): Promise<void>;
}

export function attachWebSocket(server: Server, deps: AppDeps): WsHub {
  const opts = deps.config.messaging.ws;
  const origins = new Set(deps.config.wsAllowedOrigins);
  const service = messageService(deps);
  // The largest frame is a send frame: the same cap as the POST /send_message body. Every other
  // frame is held to its own, smaller cap in onFrame.
  const maxSendFrame = service.sendBodyBytes + FRAME_ENVELOPE_BYTES;
  const maxAckFrame = ACK_BODY_BYTES + FRAME_ENVELOPE_BYTES;
  // Request bodies a socket may hold in memory at once: past this the socket is paused (TCP
  // pushes back on the client) until answers free room, so 64 requests in flight cannot mean
  // 64 maximum-size bodies.
  const maxInFlightBytes = MAX_IN_FLIGHT_SEND_FRAMES * maxSendFrame;
  const wss = new WebSocketServer({
    noServer: true,
    maxPayload: maxSendFrame,
    clientTracking: false,
    perMessageDeflate: false,
  });
  const all = new Set<Conn>();
  const byUser = new Map<string, Set<Conn>>();
  /** Open sockets per client address; an address leaves the map with its last socket. */
  const byIp = new Map<string, number>();
  // The same trust rule Express applies for req.ip (src/app.ts 'trust proxy'), compiled once.
  const trust = compileTrust(deps.config.trustProxy);
  let closing = false;

  const refuse = (socket: Duplex, status: number, error?: { error: string; message: string }) => {
    const body = error ? JSON.stringify(error) : '';
    const type = error ? 'Content-Type: application/json\r\n' : '';
    // Destroyed once the answer is flushed (as ws's own abortHandshake does).
    socket.once('finish', () => socket.destroy());
    socket.end(
      `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nConnection: close\r\n${type}` +
        `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
    );
  };

  const onUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    // Node's HTTP server stops handling the socket's errors when it emits 'upgrade', and ws
    // handles them only from handleUpgrade on. Until then (the refusals below included) a reset
    // from the client would be an 'error' event without a listener, which ends the process
    // (the ws README, "Client authentication", does the same).
    const onSocketError = () => socket.destroy();
    socket.on('error', onSocketError);
    const url = req.url ?? '';
    if (url !== '/ws' && !url.startsWith('/ws?')) return refuse(socket, 404);
    if (url !== '/ws') return refuse(socket, 400);
    const origin = req.headers.origin;
    if (!origin || !origins.has(origin)) return refuse(socket, 403);
    if (closing || all.size >= opts.maxConnections) return refuse(socket, 503);
    const ip = upgradeClientIp(req, trust);
    const held = byIp.get(ip) ?? 0;
    if (held >= opts.maxPerIp)
      return refuse(socket, 429, {
        error: 'too_many_connections',
        message: 'too many WebSocket connections from this address',
      });
    // Counted from here, so that upgrades in progress count too.
    byIp.set(ip, held + 1);
    let counted = true;
    const release = () => {
      if (!counted) return;
      counted = false;
      const n = (byIp.get(ip) ?? 1) - 1;
      if (n > 0) byIp.set(ip, n);
      else byIp.delete(ip);
    };
    // A handshake ws refuses (bad key or version) never reaches accept: released with its socket.
    socket.once('close', release);
    // ws's own error handler takes over (handleUpgrade adds it synchronously).
    socket.off('error', onSocketError);
    wss.handleUpgrade(req, socket, head, (ws) => accept(ws, socket, release));
  };
  server.on('upgrade', onUpgrade);

  function accept(ws: WebSocket, socket: Duplex, release: () => void): void {
    // Counted as they arrive, before ws gathers them into messages (MAX_PRE_LIVE_BYTES).
    let received = 0;
    const count = (chunk: Buffer) => {
      received += chunk.length;
      if (received > MAX_PRE_LIVE_BYTES) socket.destroy();
    };
    socket.on('data', count);
    const conn: Conn = {
      ws,
      userId: '',
      sessionId: '',
      tokenExpiresAtMs: 0,
      deviceId: 0,
      cursor: 0,
      gen: 0,
      state: ConnState.awaitingAuth,
      alive: true,
      pumping: false,
      again: false,
      authTimer: undefined,
      frames: 0,
      windowStart: Date.now(),
      inFlight: 0,
      inFlightBytes: 0,
      stopCounting: () => socket.off('data', count),
    };
    all.add(conn);
    conn.authTimer = setTimeout(() => ws.close(CLOSE.authTimeout, 'auth timeout'), opts.authTimeoutMs);
    ws.on('pong', () => {
      conn.alive = true;
    });
    ws.on('message', (data, isBinary) => onFrame(conn, data, isBinary));
    ws.on('error', () => ws.terminate());
    ws.on('close', () => {
      release();
      drop(conn);
    });
  }

  function drop(conn: Conn): void {
    clearTimeout(conn.authTimer);
    all.delete(conn);
    const set = byUser.get(conn.userId);
    if (set) {
      set.delete(conn);
      if (set.size === 0) byUser.delete(conn.userId);
    }
  }

  function send(conn: Conn, frame: ControlFrame): void {
    if (conn.ws.readyState !== conn.ws.OPEN || closedIfExpired(conn)) return;
    conn.ws.send(JSON.stringify(frame));
    // Responses count too: a client that keeps requesting but never reads must not grow the
    // relay's memory without bound.
    cutIfBehind(conn);
  }

  /** Closes a socket whose client has stopped reading (MAX_BUFFERED_BYTES queued); true if cut. */
  function cutIfBehind(conn: Conn): boolean {
    if (conn.ws.bufferedAmount <= MAX_BUFFERED_BYTES) return false;
    deps.logger.warn({ buffered: conn.ws.bufferedAmount }, 'ws client too far behind; cut');
    conn.ws.close(CLOSE.tryAgainLater, 'too far behind; reconnect and catch up');
    return true;
  }

  /**
   * Closes (4401) a live socket whose access token has expired; true if so. Called before
   * anything is executed for it or sent to it, so an expired token neither acts nor reads.
   */
  function closedIfExpired(conn: Conn): boolean {
    if (conn.state !== ConnState.live || deps.clock.now() < conn.tokenExpiresAtMs) return false;
    conn.ws.close(CLOSE.unauthorized, 'access token expired');
    return true;
  }

  function onFrame(conn: Conn, data: RawData, isBinary: boolean): void {
    if (isBinary) {
      conn.ws.close(CLOSE.unsupportedData, 'text frames only');
      return;
    }
    const bytes = frameBytes(data);
    // Before authentication only an auth frame is welcome: nothing large is parsed for a stranger.
    if (conn.state !== ConnState.live && bytes > MAX_CLIENT_FRAME_BYTES) {
      conn.ws.close(CLOSE.tooBig, 'frame too large');
      return;
    }
    const frame = parseClientFrame(data.toString());
    if (conn.state === ConnState.awaitingAuth) {
      if (frame?.type !== 'auth') {
        conn.ws.close(CLOSE.unauthorized, 'authenticate first');
        return;
      }
      if (!countControl(conn)) return;
      conn.state = ConnState.authenticating;
      void authenticate(conn, frame.token, frame.cursor ?? 0);
    } else if (conn.state === ConnState.authenticating) {
      if (!frame) conn.ws.close(CLOSE.badFrame, 'malformed frame');
      else if (countControl(conn))
        send(conn, { type: 'error', error: 'not_ready', message: 'wait for ready' });
    } else if (!frame) {
      conn.ws.close(CLOSE.badFrame, 'malformed frame');
    } else if (closedIfExpired(conn)) {
      // The frame was sent after the token expired: refused, not executed.
    } else if (frame.type === 'send' || frame.type === 'ack') {
      if (frame.type === 'ack' && bytes > maxAckFrame) {
        conn.ws.close(CLOSE.tooBig, 'frame too large');
        return;
      }
      if (++conn.inFlight > MAX_REQUESTS_IN_FLIGHT) {
        conn.ws.close(CLOSE.tooMany, 'too many requests in flight');
        return;
      }
      void request(conn, frame, bytes);
    } else if (bytes > MAX_CLIENT_FRAME_BYTES) {
      conn.ws.close(CLOSE.tooBig, 'frame too large');
    } else if (frame.type === 'catch_up' && countControl(conn)) {
      conn.cursor = frame.cursor;
      conn.gen++;
      void pump(conn);
    } else if (frame.type === 'auth') {
      conn.ws.close(CLOSE.badFrame, 'already authenticated');
    }
  }

  /** Counts a control frame against the per-minute cap; false (and the socket closed) past it. */
  function countControl(conn: Conn): boolean {
    const now = Date.now();
    if (now - conn.windowStart >= 60_000) {
      conn.windowStart = now;
      conn.frames = 0;
    }
    if (++conn.frames > MAX_CLIENT_FRAMES_PER_MINUTE) {
      conn.ws.close(CLOSE.tooMany, 'too many frames');
      return false;
    }
    return true;
  }

  /** A send or ack frame: the HTTP route's work and answer, as a response frame. */
  async function request(
    conn: Conn,
    frame: Extract<ClientFrame, { type: 'send' | 'ack' }>,
    bytes: number,
  ): Promise<void> {
    conn.inFlightBytes += bytes;
    if (conn.inFlightBytes > maxInFlightBytes) conn.ws.pause();
    const ctx: AuthContext = { userId: conn.userId, sessionId: conn.sessionId };
    ctx.deviceId = conn.deviceId;
    let status: number;
    let body: Record<string, unknown>;
    try {
      const r =
        frame.type === 'send' ? await service.send(ctx, frame.message) : await service.ack(ctx, frame.ack);
      status = r.status;
      body = r.body;
    } catch (err) {
      if (err instanceof HttpError) {
        status = err.status;
        body = { error: err.code, message: err.message, ...err.extra };
      } else {
        // As the HTTP error handler (src/http/errors.ts): no internals to the client.
        deps.logger.error({ err: { message: (err as Error).message } }, 'ws request failed');
        status = 500;
        body = { error: 'internal', message: 'internal error' };
      }
    } finally {
      conn.inFlight--;
      conn.inFlightBytes -= bytes;
      if (conn.ws.isPaused && conn.inFlightBytes <= maxInFlightBytes) conn.ws.resume();
    }
    send(conn, { type: 'response', id: frame.id, status, body });
  }

  async function authenticate(conn: Conn, token: string, cursor: number): Promise<void> {
    let ctx: TokenContext;
    try {
      ctx = await authenticateToken(deps, token);
    } catch {
      conn.ws.close(CLOSE.unauthorized, 'invalid or revoked token');
      return;
    }
    // A socket belongs to its session's device (spec/openapi.yaml GET /ws); a device-less
    // session has no mailbox to push.
    try {
      conn.deviceId = await deviceOf(deps, ctx);
    } catch (err) {
      if (err instanceof HttpError) conn.ws.close(CLOSE.deviceRequired, 'set up this device first');
      else conn.ws.close(CLOSE.tryAgainLater, 'try again later');
      return;
    }
    clearTimeout(conn.authTimer);
    conn.authTimer = undefined;
    if (conn.ws.readyState !== conn.ws.OPEN) return;
    let set = byUser.get(ctx.userId);
    if (set && set.size >= opts.maxPerUser) {
      conn.ws.close(CLOSE.tooMany, 'too many connections for this user');
      return;
    }
    if (!set) {
      set = new Set();
      byUser.set(ctx.userId, set);
    }
    set.add(conn);
    conn.userId = ctx.userId;
    conn.sessionId = ctx.sessionId;
    conn.tokenExpiresAtMs = ctx.expiresAtMs;
    conn.state = ConnState.live;
    conn.stopCounting();
    conn.pumping = true; // no fast-path push before the cursor is settled
    try {
      // Checked again now that the socket is among its user's: a logout committed after the
      // check above whose notice the hub handled before this socket was in byUser would
      // otherwise be missed until the periodic check. From here on, a revocation is heard.
      await assertSessionLive(deps, ctx);
    } catch (err) {
      // Ended: 4403. The database unreachable is no reason to log the client out: it retries.
      if (err instanceof HttpError) conn.ws.close(CLOSE.sessionEnded, 'session ended');
      else conn.ws.close(CLOSE.tryAgainLater, 'try again later');
      return;
    }
    try {
      conn.cursor = await effectiveCursor(deps.pool, ctx.userId, cursor);
    } catch {
      conn.cursor = cursor;
    } finally {
      conn.pumping = false;
    }
    send(conn, { type: 'ready', cursor: conn.cursor });
    await pump(conn);
  }

  /** Sends everything in the user's stream after conn.cursor, in order; one pump per socket at a time. */
  async function pump(conn: Conn): Promise<void> {
    if (conn.pumping) {
      conn.again = true;
      return;
    }
    conn.pumping = true;
    try {
      do {
        conn.again = false;
        const gen = conn.gen;
        const items = await readStream(
          deps.pool,
          conn.userId,
          conn.deviceId,
          conn.cursor,
          PAGE,
          conn.sessionId,
        );
        if (conn.ws.readyState !== conn.ws.OPEN || closedIfExpired(conn)) return;
        if (gen !== conn.gen) {
          conn.again = true;
          continue;
        }
        for (const item of items) {
          conn.ws.send(JSON.stringify(item));
          conn.cursor = item.seq;
        }
        if (cutIfBehind(conn)) return;
        if (items.length === PAGE) conn.again = true;
      } while (conn.again);
    } catch (err) {
      deps.logger.warn({ err: { message: (err as Error).message } }, 'ws stream read failed');
      // Retry later (1–3 s, spread so that thousands of sockets do not retry in step while the
      // database is away); the cursor has not moved past anything unsent.
      setTimeout(() => void pump(conn), 1000 + Math.floor(Math.random() * 2000)).unref();
    } finally {
      conn.pumping = false;
    }
  }

  function onEvent(event: RelayEvent): void {
    if (event.kind === 'resync') {
      for (const c of all) if (c.state === ConnState.live) void pump(c);
      return;
    }
    const set = byUser.get(event.userId);
    if (!set) return;
    // Encoded once for every socket of the user, not once per socket.
    let text: string | undefined;
    for (const c of set) {
      if (c.state !== ConnState.live || closedIfExpired(c)) continue;
      if (event.kind === 'stream') {
        if (event.deviceId !== undefined && event.deviceId !== c.deviceId) {
          // Another device's copy (only events carrying an item name a device): nothing to send
          // here. When it is the very next seq and no read is in flight, this device has nothing
          // at that seq, so its cursor moves past it and the fast path stays open for the next
          // item.
          if (!c.pumping && event.seq === c.cursor + 1) c.cursor = event.seq;
          continue;
        }
        // Fast path for a row the event carries (committed by this process, or a small message
        // copy another process's NOTIFY carried, src/notify/notifier.ts): when it is the very
        // next seq and no read is in flight, nothing can lie between, so it is sent without
        // reading it back.
        if (event.item && !c.pumping && event.seq === c.cursor + 1) {
          text ??= JSON.stringify(event.item);
          c.ws.send(text);
          c.cursor = event.seq;
          // Too far behind is 1013 here as after a read-back (spec/openapi.yaml GET /ws): most
          // pushes skip the read now that small copies from other processes carry their item.
          cutIfBehind(c);
        } else if (event.seq > c.cursor) void pump(c);
      } else if (
        event.kind === 'prekeys_low' &&
        (event.deviceId === undefined || event.deviceId === c.deviceId)
      ) {
        send(c, { type: 'prekeys_low', remaining: event.remaining, remaining_pq: event.remainingPq });
      } else if (
        event.kind === 'revoked' &&
        (event.sessionId === undefined || event.sessionId === c.sessionId)
      ) {
        c.ws.close(CLOSE.sessionEnded, 'session ended');
      }
    }
  }
  const unsubscribe = deps.notifier.subscribe(onEvent);

  const heartbeat = setInterval(() => {
    for (const c of all) {
      if (!c.alive) {
        c.ws.terminate();
        continue;
      }
      c.alive = false;
      c.ws.ping();
    }
  }, opts.heartbeatMs);
  heartbeat.unref();

  // Safety net for revocations whose NOTIFY was missed, and for sessions that simply expired;
  // and the close of idle sockets whose access token expired (4401).
  const sessionCheck = setInterval(() => void checkSessions(), opts.sessionCheckMs);
  sessionCheck.unref();
  async function checkSessions(): Promise<void> {
    const live = [...all].filter((c) => c.state === ConnState.live && !closedIfExpired(c));
    for (let i = 0; i < live.length; i += 5000) {
      const chunk = live.slice(i, i + 5000);
      try {
        const r = await deps.pool.query<{ id: string }>(
          'SELECT id FROM sessions WHERE id = ANY($1::uuid[]) AND revoked_at IS NULL AND expires_at > $2',
          [chunk.map((c) => c.sessionId), new Date(deps.clock.now())],
        );
        const ok = new Set(r.rows.map((x) => x.id));
        for (const c of chunk) if (!ok.has(c.sessionId)) c.ws.close(CLOSE.sessionEnded, 'session ended');
      } catch (err) {
        deps.logger.warn({ err: { message: (err as Error).message } }, 'ws session check failed');
      }
    }
  }

  return {
    size: () => all.size,
    close: async () => {
      closing = true;
      server.off('upgrade', onUpgrade);
      unsubscribe();
      clearInterval(heartbeat);
      clearInterval(sessionCheck);
      const waits = [...all].map(
        (c) =>
          new Promise<void>((r) => {
            c.ws.once('close', () => r());
            c.ws.close(CLOSE.goingAway, 'server shutting down');
            setTimeout(() => {
              c.ws.terminate();
              r();
            }, 1000).unref();
          }),
      );
      await Promise.all(waits);
      await new Promise<void>((r) => wss.close(() => r()));
    },
  };
}

/** Length of a text frame in bytes (ws hands a Buffer, or fragments as an array). */
function frameBytes(data: RawData): number {
  if (Array.isArray(data)) return data.reduce((n, b) => n + b.length, 0);
  return data instanceof ArrayBuffer ? data.byteLength : data.length;
}
