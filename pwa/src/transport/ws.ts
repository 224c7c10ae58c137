// The WebSocket half of the transport (spec/openapi.yaml GET /ws): one connection to
// the relay's stream, authenticated by the FIRST message (never a token in the URL), resumed
// from the last cursor after every reconnect, reconnecting with exponential backoff + jitter.
// It only moves frames: decrypting and acknowledging are the secure layer's job.
import { type BackoffOptions, backoffDelay, DEFAULT_BACKOFF } from './backoff.ts';

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

const browserOnline = () => typeof navigator === 'undefined' || navigator.onLine !== false;

// relay/src/ws/frames.ts CLOSE: 4401 unauthorized, 4403 session ended (logout / logout-all).
const AUTH_FAILED_CLOSES = new Set([4401, 4403]);
const DEFAULT_MAX_FRAME = 512 * 1024;

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
  private statusValue: SocketStatus = 'offline';

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
    const s = this.socket;
    this.socket = null;
    if (s) {
      s.onclose = null;
      s.onmessage = null;
      s.close(1000, 'client stop');
    }
    this.setStatus('offline');
  }

  /** Reconnect now (e.g. the browser's `online` event), skipping the remaining backoff. */
  nudge(): void {
    if (this.stopped || this.socket) return;
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
    if (this.stopped) return;
    if (!(this.options.isOnline ?? browserOnline)()) {
      this.scheduleReconnect();
      return;
    }
    this.setStatus('connecting');
    const token = await this.options.token().catch(() => null);
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
    const maxFrame = this.options.maxFrameBytes ?? DEFAULT_MAX_FRAME;
    socket.onopen = () => {
      // spec: authenticate before any data; the cursor says where to resume.
      socket.send(JSON.stringify({ type: 'auth', token, cursor: this.options.cursor() }));
    };
    socket.onmessage = (ev) => {
      const text = typeof ev.data === 'string' ? ev.data : null;
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
      if (!frame || typeof frame !== 'object' || typeof (frame as { type?: unknown }).type !== 'string')
        return;
      const f = frame as ServerFrame;
      // relay/src/ws/hub.ts: {type:"ready", cursor} once authenticated; a bad token closes 4401.
      if (f.type === 'ready') {
        this.attempt = 0;
        this.setStatus('online');
      }
      this.options.onFrame(f);
    };
    socket.onerror = () => {
      // onclose follows and schedules the reconnect.
    };
    socket.onclose = (ev) => {
      if (this.socket === socket) this.socket = null;
      if (AUTH_FAILED_CLOSES.has(ev.code)) this.options.onAuthFailed?.();
      this.scheduleReconnect();
    };
  }
}
