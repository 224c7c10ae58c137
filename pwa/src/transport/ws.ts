// The WebSocket half of the transport (spec/openapi.yaml GET /ws): one connection to
// the relay's stream, authenticated by the FIRST message (never a token in the URL), resumed
// from the last cursor after every reconnect, reconnecting with exponential backoff + jitter.
// It only moves frames: decrypting and acknowledging are the secure layer's job. Once
// authenticated it also carries request frames — a send or an acknowledgement, answered by one
// response frame (spec/openapi.yaml GET /ws, spec/ws-frames.schema.json) — for which a
// request that gets no answer here is reported as SocketUnavailable, so the caller can make it
// over HTTP instead (transport/socket-first.ts).
//
// Liveness: the relay's heartbeat is a WebSocket protocol ping (spec/openapi.yaml GET /ws), which a
// browser answers without telling the page, and the protocol has no frame the client could send
// to ask for a sign of life. So the client judges a socket by the answers it is owed: the relay
// answers the auth frame with `ready` and every request frame with one response frame (same
// section). A socket that owes an answer and stays silent past a bound is dead — a link that died
// without a close (a network change, a stalled relay) — and it is dropped at once (watchLiveness,
// dropDead): its requests are made over HTTP and a new socket is opened, instead of every later
// request waiting out its own timeout on the dead one.
import { type BackoffOptions, backoffDelay, DEFAULT_BACKOFF } from './backoff.ts';
import { apiErrorOf } from './errors.ts';
import type { AckFrameWire, AuthFrameWire, ResponseFrameWire, SendFrameWire } from './wire.ts';

export type SocketStatus = 'connecting' | 'online' | 'offline';

/** A frame from the relay after parsing; unknown types are passed through for forward compatibility. */
export type ServerFrame = { readonly type: string; readonly [field: string]: unknown };

/** The subset of the WebSocket API this client needs (browser WebSocket, or `ws` in tests). */
export interface SocketLike {
  readonly readyState: number;
  send(data: string): void;
  close(code?: number, reason?: string): void;
  onopen: ((ev: unknown) => void) | null;
  onmessage: ((ev: { data: unknown }) => void) | null;
  onclose: ((ev: { code: number }) => void) | null;
  onerror: ((ev: unknown) => void) | null;
}

export interface RelaySocketOptions {
  /** ws(s):// URL of the relay stream: same origin /api/ws behind the host. */
  readonly url: string;
  /** Current access token (refreshed by the caller when it expires). */
  readonly token: () => Promise<string | null>;
  /** The last stream seq fully handled; the relay resumes after it. */
  readonly cursor: () => number;
  readonly onFrame: (frame: ServerFrame) => void;
  readonly onStatus?: (status: SocketStatus) => void;
  /** The relay refused the token (close code 4401 / an auth error frame). */
  readonly onAuthFailed?: () => void;
  readonly createSocket?: (url: string) => SocketLike;
  readonly backoff?: BackoffOptions;
  readonly random?: () => number;
  /** Most frame size accepted from the relay; larger frames close the connection. */
  readonly maxFrameBytes?: number;
  /**
   * Whether the browser has a network at all (default: `navigator.onLine`). While it has none
   * the socket stays 'offline' without trying, so the app never says "Connecting…" offline
   * (an offline reload included); the browser's `online` event reaches `nudge()`.
   */
  readonly isOnline?: () => boolean;
}

/**
 * How long a request frame waits for its response. A socket can go silent without closing (a
 * dead link before the relay's heartbeat notices); past this the request is given up here and
 * made over HTTP, where the relay's idempotency by client_id makes a second arrival harmless.
 * The relay answers every request frame (spec/openapi.yaml GET /ws), so a request given up also
 * marks its socket dead (see the liveness note above).
 */
export const WS_REQUEST_TIMEOUT_MS = 10_000;
/**
 * While requests are unanswered, the longest the socket may stay silent — no frame at all, an
 * answer or a stream item — before it is dead. Shorter than WS_REQUEST_TIMEOUT_MS, so a socket
 * dead under a fresh request is found before that request's own timeout; long enough for a relay
 * answering slowly under load (an answer comes only after its commit, spec/openapi.yaml GET /ws),
 * which costs no more than a reconnect and the request made over HTTP once with its client_id.
 */
export const WS_SILENCE_LIMIT_MS = 5_000;
/**
 * From opening a socket to its `ready`: connecting, the auth frame and the relay's check of it
 * (which the relay bounds by WS_AUTH_TIMEOUT_MS, 5 s, for the frame's arrival; spec/openapi.yaml
 * GET /ws). A socket without `ready` by then is dead, and the stream it would carry waits for
 * it; it is dropped and opened again through the reconnect backoff.
 */
export const WS_READY_TIMEOUT_MS = 15_000;
/**
 * Request frames unanswered at once on one socket; more go over HTTP. Below the relay's 64,
 * beyond which it closes the socket with 4429 (spec/ws-frames.schema.json ClientFrame).
 */
export const WS_MAX_REQUESTS_IN_FLIGHT = 32;

/** A request frame without its id, which the socket assigns. */
export type SocketRequest = Omit<SendFrameWire, 'id'> | Omit<AckFrameWire, 'id'>;

/**
 * A request the socket could not get answered: not open and authenticated, too many in flight,
 * closed before the answer, or no answer in time. The relay may or may not have acted on it.
 */
export class SocketUnavailable extends Error {
  constructor(readonly reason: 'not_open' | 'busy' | 'closed' | 'timeout') {
    super(`socket request not answered: ${reason}`);
    this.name = 'SocketUnavailable';
  }
}

interface Pending {
  readonly resolve: (body: unknown) => void;
  readonly reject: (err: Error) => void;
  readonly timer: ReturnType<typeof setTimeout>;
}

const browserOnline = () => typeof navigator === 'undefined' || navigator.onLine !== false;

// relay/src/ws/frames.ts CLOSE: 4401 unauthorized, 4403 session ended (logout / logout-all).
const AUTH_FAILED_CLOSES = new Set([4401, 4403]);
const DEFAULT_MAX_FRAME = 512 * 1024;
/** WebSocket.OPEN (the same value in the browser and in `ws`). */
const OPEN = 1;
/**
 * The close code a socket found dead is closed with: RFC 6455 §7.4.2 leaves 4000–4999 to
 * applications, and the relay's own codes (relay/src/ws/frames.ts CLOSE) are not this one.
 */
const CLOSE_DEAD = 4000;
/** Our close of a socket given up to resume the stream from its cursor (restart). */
const CLOSE_RESYNC = 4001;

/** Same-origin WebSocket URL for a path such as '/api/ws'. */
export function sameOriginWsUrl(
  path: string,
  location: Pick<Location, 'protocol' | 'host'> = globalThis.location,
): string {
  return `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}${path}`;
}

export class RelaySocket {
  private socket: SocketLike | null = null;
  private attempt = 0;
  private timer: ReturnType<typeof setTimeout> | null = null;
  private stopped = true;
  /** A connect() is between its start and its socket (awaiting the token). */
  private connecting = false;
  private statusValue: SocketStatus = 'offline';
  private readonly pending = new Map<number, Pending>();
  private nextRequestId = 0;
  /** The liveness deadline of the current socket, while it owes an answer (watchLiveness). */
  private liveness: ReturnType<typeof setTimeout> | null = null;

  constructor(private readonly options: RelaySocketOptions) {}

  get status(): SocketStatus {
    return this.statusValue;
  }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.attempt = 0;
    void this.connect();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.release(1000, 'client stop');
    this.setStatus('offline');
  }

  /**
   * Lets go of the current socket: closes it without acting on its close any more, and fails
   * the requests still waiting on it, which their callers then make over HTTP.
   */
  private release(code: number, reason: string): void {
    const s = this.socket;
    this.socket = null;
    this.watchLiveness();
    if (s) {
      s.onopen = null;
      s.onclose = null;
      s.onmessage = null;
      // Kept, as a no-op: `ws` throws an 'error' event nobody listens to (closing before open).
      s.onerror = () => undefined;
      try {
        s.close(code, reason);
      } catch {
        // Already closing or closed: nothing more to let go of.
      }
    }
    this.failPending();
  }

  /**
   * The current socket owes an answer and has been silent past its bound (see the liveness
   * note at the top): it is let go and a new one is opened through the reconnect backoff.
   */
  private dropDead(socket: SocketLike): void {
    if (this.socket !== socket) return;
    this.release(CLOSE_DEAD, 'no answer');
    this.scheduleReconnect();
  }

  /**
   * (Re)arms the liveness deadline of the current socket from now — called when it opens, when
   * a frame arrives, and when a request is written while none was waiting — or disarms it when
   * the socket owes nothing: before `ready` it owes that (WS_READY_TIMEOUT_MS), after it the
   * answers to the requests waiting (WS_SILENCE_LIMIT_MS). Silence while nothing is owed is an
   * idle socket, not a dead one.
   */
  private watchLiveness(): void {
    if (this.liveness) clearTimeout(this.liveness);
    this.liveness = null;
    const socket = this.socket;
    if (!socket) return;
    const bound =
      this.statusValue !== 'online'
        ? WS_READY_TIMEOUT_MS
        : this.pending.size > 0
          ? WS_SILENCE_LIMIT_MS
          : null;
    if (bound === null) return;
    this.liveness = setTimeout(() => {
      this.liveness = null;
      this.dropDead(socket);
    }, bound);
  }

  /**
   * Sends a request frame and resolves with the 2xx body of its response frame; an error
   * response rejects with the ApiError the HTTP route's answer would give (transport/errors.ts).
   * Rejects with SocketUnavailable when it cannot be answered here (see that class).
   */
  request(frame: SocketRequest, timeoutMs = WS_REQUEST_TIMEOUT_MS): Promise<unknown> {
    const socket = this.socket;
    // Request frames only after `ready`: earlier the relay answers `not_ready` with no id. Not
    // while the browser reports no network either: a socket can stay open through that with its
    // frames held (Chromium does so), and the request would wait out its timeout instead of
    // failing over HTTP at once and waiting in the outbox for the network.
    if (
      !socket ||
      this.statusValue !== 'online' ||
      socket.readyState !== OPEN ||
      !(this.options.isOnline ?? browserOnline)()
    )
      return Promise.reject(new SocketUnavailable('not_open'));
    if (this.pending.size >= WS_MAX_REQUESTS_IN_FLIGHT) return Promise.reject(new SocketUnavailable('busy'));
    const id = this.nextRequestId;
    this.nextRequestId = id >= Number.MAX_SAFE_INTEGER ? 0 : id + 1;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new SocketUnavailable('timeout'));
        // Unanswered though the relay answers every request frame: the socket is dead, and the
        // requests behind this one are made over HTTP now rather than each at its own timeout.
        this.dropDead(socket);
      }, timeoutMs);
      const firstOwed = this.pending.size === 0;
      this.pending.set(id, { resolve, reject, timer });
      // The silence bound counts from the first answer owed, not from an idle stretch before it.
      if (firstOwed) this.watchLiveness();
      try {
        socket.send(JSON.stringify({ ...frame, id } satisfies SendFrameWire | AckFrameWire));
      } catch {
        this.settle(id)?.reject(new SocketUnavailable('closed'));
      }
    });
  }

  /** Removes a pending request and returns it, or undefined if it was already settled. */
  private settle(id: number): Pending | undefined {
    const p = this.pending.get(id);
    if (!p) return undefined;
    this.pending.delete(id);
    clearTimeout(p.timer);
    return p;
  }

  /** The socket is gone: every request still waiting is made elsewhere by its caller. */
  private failPending(): void {
    for (const id of [...this.pending.keys()]) this.settle(id)?.reject(new SocketUnavailable('closed'));
  }

  private onResponse(f: ResponseFrameWire): void {
    // An answer after the timeout finds nothing: the request has been made over HTTP already.
    const p = typeof f.id === 'number' ? this.settle(f.id) : undefined;
    if (!p) return;
    if (typeof f.status === 'number' && f.status >= 200 && f.status < 300) p.resolve(f.body);
    else p.reject(apiErrorOf(Number(f.status) || 0, f.body, 'request failed'));
  }

  /**
   * Gives the open socket up and opens another after the backoff of `attempt` failures: what
   * arrives after a frame the app could not store must not be handled, or the stream cursor
   * would move past that frame, and the new socket resumes from the cursor
   * (state/messenger/incoming.ts). Without an open socket a reconnect is under way already.
   */
  restart(attempt: number): void {
    if (this.stopped || !this.socket) return;
    this.release(CLOSE_RESYNC, 'resync');
    this.attempt = Math.max(this.attempt, attempt);
    this.scheduleReconnect();
  }

  /** Reconnect now (e.g. the browser's `online` event), skipping the remaining backoff. */
  nudge(): void {
    // Not while a connect is awaiting its token either: a second connect would open a second
    // socket and leave the first open and unowned.
    if (this.stopped || this.socket || this.connecting) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.attempt = 0;
    void this.connect();
  }

  private setStatus(status: SocketStatus): void {
    if (status === this.statusValue) return;
    this.statusValue = status;
    this.options.onStatus?.(status);
  }

  private scheduleReconnect(): void {
    if (this.stopped) return;
    this.setStatus('offline');
    const delay = backoffDelay(
      this.attempt,
      (this.options.random ?? Math.random)(),
      this.options.backoff ?? DEFAULT_BACKOFF,
    );
    this.attempt += 1;
    this.timer = setTimeout(() => {
      this.timer = null;
      void this.connect();
    }, delay);
  }

  private async connect(): Promise<void> {
    if (this.stopped || this.connecting) return;
    if (!(this.options.isOnline ?? browserOnline)()) {
      this.scheduleReconnect();
      return;
    }
    this.setStatus('connecting');
    this.connecting = true;
    const token = await this.options.token().catch(() => null);
    this.connecting = false;
    if (this.stopped) return;
    if (!token) {
      this.scheduleReconnect();
      return;
    }
    let socket: SocketLike;
    try {
      socket = (this.options.createSocket ?? ((url) => new WebSocket(url) as unknown as SocketLike))(
        this.options.url,
      );
    } catch {
      this.scheduleReconnect();
      return;
    }
    this.socket = socket;
    this.watchLiveness();
    const maxFrame = this.options.maxFrameBytes ?? DEFAULT_MAX_FRAME;
    socket.onopen = () => {
      this.watchLiveness();
      // spec: authenticate before any data; the cursor says where to resume.
      socket.send(
        JSON.stringify({ type: 'auth', token, cursor: this.options.cursor() } satisfies AuthFrameWire),
      );
    };
    socket.onmessage = (ev) => {
      try {
        this.onSocketMessage(socket, ev.data, maxFrame);
      } finally {
        // Any frame is a sign of life, whatever it carries; what the socket owes now is
        // known once the frame is handled (an answer settled, `ready` reached).
        if (this.socket === socket) this.watchLiveness();
      }
    };
    socket.onerror = () => {
      // onclose follows and schedules the reconnect.
    };
    socket.onclose = (ev) => {
      // Only the current socket's close is acted on (a stopped one has no handler).
      if (this.socket !== socket) return;
      this.socket = null;
      this.watchLiveness();
      this.failPending();
      // 4401 also when the token the socket authenticated with expires while it is open
      // (spec/openapi.yaml GET /ws): the caller refreshes it, and the reconnect below waits for
      // the fresh token (options.token).
      if (AUTH_FAILED_CLOSES.has(ev.code)) this.options.onAuthFailed?.();
      this.scheduleReconnect();
    };
  }

  /** One frame from `socket` (the current one). */
  private onSocketMessage(socket: SocketLike, data: unknown, maxFrame: number): void {
    const text = typeof data === 'string' ? data : null;
    if (text === null || text.length > maxFrame) {
      socket.close(1009, 'frame too large or not text');
      return;
    }
    let frame: unknown;
    try {
      frame = JSON.parse(text);
    } catch {
      return; // a malformed frame is dropped; the stream resumes from the cursor anyway
    }
    if (!frame || typeof frame !== 'object' || typeof (frame as { type?: unknown }).type !== 'string') return;
    const f = frame as ServerFrame;
    if (f.type === 'response') {
      // Answers to this client's requests, not stream items.
      this.onResponse(f as unknown as ResponseFrameWire);
      return;
    }
    // relay/src/ws/hub.ts: {type:"ready", cursor} once authenticated; a bad token closes 4401.
    if (f.type === 'ready') {
      this.attempt = 0;
      this.setStatus('online');
    }
    this.options.onFrame(f);
  }
}
