// Sends and acknowledgements over the socket, else over HTTP (socket-first.ts), against the REAL
// relay (test-relay/global-setup.ts) through Node's `ws` client. Each socket is a tap on a real
// connection: it records the frames the client wrote and can lose the relay's answer to a send
// (dropped, or dropped with the connection cut), the failures a request outstanding on a
// socket meets in the field. The HTTP calls go through the real RelayApi, counted on the way.
// @vitest-environment node
import { afterEach, describe, expect, it, vi } from 'vitest';
import WebSocket from 'ws';
import { toAppErrorCode } from '../state/error-map.ts';
import { type RelayUser, registerWithDevice, relayOrigin, relayWsUrl, toDevice1 } from '../test/relay.ts';
import type { RelayApi } from './api.ts';
import { ApiError } from './errors.ts';
import { SocketFirst } from './socket-first.ts';
import { RelaySocket, type SocketLike, WS_MAX_REQUESTS_IN_FLIGHT } from './ws.ts';

type Fault = 'none' | 'drop_send_answer' | 'cut_after_send_answer' | 'cut_after_send';

/** A real `ws` connection behind the SocketLike surface, with the fault the test chose. */
class TappedSocket implements SocketLike {
  onopen: ((ev: unknown) => void) | null = null;
  onmessage: ((ev: { data: unknown }) => void) | null = null;
  onclose: ((ev: { code: number }) => void) | null = null;
  onerror: ((ev: unknown) => void) | null = null;
  private readonly ws: WebSocket;
  private readonly sendIds = new Set<number>();

  constructor(
    url: string,
    private readonly tap: Tap,
  ) {
    this.ws = new WebSocket(url, { origin: relayOrigin() });
    this.ws.onopen = (ev) => this.onopen?.(ev);
    this.ws.onclose = (ev) => this.onclose?.({ code: ev.code });
    this.ws.onerror = (ev) => this.onerror?.(ev);
    this.ws.onmessage = (ev) => {
      const frame = JSON.parse(String(ev.data)) as { type: string; id?: number };
      if (frame.type === 'response') this.tap.outstanding -= 1;
      if (frame.type === 'response' && this.sendIds.has(frame.id ?? -1)) {
        if (this.tap.fault === 'drop_send_answer') return;
        if (this.tap.fault === 'cut_after_send_answer') {
          this.tap.fault = 'none';
          this.ws.terminate();
          return;
        }
      }
      this.onmessage?.({ data: ev.data });
    };
  }

  get readyState(): number {
    return this.ws.readyState;
  }

  send(data: string): void {
    const frame = JSON.parse(data) as { type: string; id?: number };
    this.tap.written.push(frame.type);
    if (frame.type === 'send' || frame.type === 'ack') {
      this.tap.outstanding += 1;
      this.tap.mostOutstanding = Math.max(this.tap.mostOutstanding, this.tap.outstanding);
    }
    if (frame.type === 'send' && typeof frame.id === 'number') this.sendIds.add(frame.id);
    this.ws.send(data);
    if (frame.type === 'send' && this.tap.fault === 'cut_after_send') {
      this.tap.fault = 'none';
      // The frame is written; the connection dies before any answer can come back.
      this.ws.terminate();
    }
  }

  close(code?: number, reason?: string): void {
    this.ws.close(code, reason);
  }
}

interface Tap {
  fault: Fault;
  /** Types of the frames the client wrote, in order, across its sockets. */
  readonly written: string[];
  /** Request frames written and not yet answered, and the most there ever were at once. */
  outstanding: number;
  mostOutstanding: number;
}

const stops: (() => void)[] = [];
afterEach(() => {
  for (const stop of stops.splice(0)) stop();
});

const until = (check: () => boolean) =>
  vi.waitFor(() => expect(check()).toBe(true), { timeout: 10_000, interval: 10 });

/** A user's socket (started, online) and its socket-first requests, with the HTTP calls counted. */
async function connect(user: RelayUser, options: { start?: boolean; timeoutMs?: number } = {}) {
  const tap: Tap = { fault: 'none', written: [], outstanding: 0, mostOutstanding: 0 };
  /** What the browser would say of its network (navigator.onLine). */
  const network = { online: true };
  const socket = new RelaySocket({
    url: relayWsUrl(),
    token: async () => user.api.http.accessToken,
    cursor: () => 0,
    onFrame: () => undefined,
    createSocket: (url) => new TappedSocket(url, tap),
    backoff: { baseMs: 10, maxMs: 20 },
    isOnline: () => network.online,
  });
  stops.push(() => socket.stop());
  const http = { send: 0, ack: 0 };
  const api: Pick<RelayApi, 'sendMessage' | 'ack'> = {
    sendMessage: (...args) => {
      http.send += 1;
      return user.api.sendMessage(...args);
    },
    ack: (...args) => {
      http.ack += 1;
      return user.api.ack(...args);
    },
  };
  const paths: string[] = [];
  const relay = new SocketFirst({
    api,
    socket: () => socket,
    onPath: (kind, path) => paths.push(`${kind}:${path}`),
    ...(options.timeoutMs === undefined ? {} : { timeoutMs: options.timeoutMs }),
  });
  if (options.start !== false) {
    socket.start();
    await until(() => socket.status === 'online');
  }
  return { socket, relay, tap, http, paths, network };
}

/** What the relay holds for `user` (GET /get_messages: stored, not yet acknowledged). */
async function stored(user: RelayUser) {
  return (await user.api.messages(0)).messages;
}

const bytes = (n: number) => new Uint8Array([n, n + 1, n + 2]);

describe('sending over the socket', () => {
  it('sends and acknowledges over the socket while it is open, with no HTTP request', async () => {
    const alice = await registerWithDevice('sfa');
    const bob = await registerWithDevice('sfb');
    const a = await connect(alice);
    const b = await connect(bob);

    const sent = await a.relay.sendMessage(bob.username, 'sock-1', toDevice1(bytes(1)));
    expect(sent.duplicate).toBe(false);
    expect(a.paths).toEqual(['send:socket']);
    expect(a.tap.written).toEqual(['auth', 'send']);
    expect(a.http.send).toBe(0);
    const held = await stored(bob);
    expect(held.map((m) => [m.id, m.sender])).toEqual([[sent.id, alice.username]]);

    const acked = await b.relay.ack([sent.id]);
    expect(acked).toEqual({ acked: 1, photos_acked: 0 });
    expect(b.paths).toEqual(['ack:socket']);
    expect(b.tap.written).toEqual(['auth', 'ack']);
    expect(b.http.ack).toBe(0);
    expect(await stored(bob)).toEqual([]);
  });

  it('falls back to HTTP when the socket is not open', async () => {
    const alice = await registerWithDevice('sfa');
    const bob = await registerWithDevice('sfb');
    const a = await connect(alice, { start: false });
    const sent = await a.relay.sendMessage(bob.username, 'http-1', toDevice1(bytes(2)));
    expect(a.paths).toEqual(['send:http']);
    expect(a.http.send).toBe(1);
    expect(a.tap.written).toEqual([]);
    expect((await stored(bob)).map((m) => m.id)).toEqual([sent.id]);

    // Stopped after being online: HTTP again.
    const b = await connect(bob);
    b.socket.stop();
    expect(await b.relay.ack([sent.id])).toEqual({ acked: 1, photos_acked: 0 });
    expect(b.paths).toEqual(['ack:http']);
    expect(await stored(bob)).toEqual([]);
  });

  it('does not write to a socket still open while the browser reports no network', async () => {
    const alice = await registerWithDevice('sfa');
    const bob = await registerWithDevice('sfb');
    const a = await connect(alice);
    a.network.online = false;
    await a.relay.sendMessage(bob.username, 'net-1', toDevice1(bytes(8)));
    expect([a.paths, a.tap.written, a.socket.status]).toEqual([['send:http'], ['auth'], 'online']);
    a.network.online = true;
    await a.relay.sendMessage(bob.username, 'net-2', toDevice1(bytes(9)));
    expect(a.paths).toEqual(['send:http', 'send:socket']);
    expect((await stored(bob)).length).toBe(2);
  });

  it.each([
    ['the connection is cut after the relay answered', 'cut_after_send_answer'],
    ['the connection is cut right after the frame was written', 'cut_after_send'],
  ] as const)(
    'stores exactly one message when %s: the send is made over HTTP with the same client_id',
    async (_, fault) => {
      const alice = await registerWithDevice('sfa');
      const bob = await registerWithDevice('sfb');
      const a = await connect(alice);
      a.tap.fault = fault;
      const sent = await a.relay.sendMessage(bob.username, 'cut-1', toDevice1(bytes(3)));
      expect(a.paths).toEqual(['send:http']);
      expect(a.http.send).toBe(1);
      expect(a.tap.written.slice(0, 2)).toEqual(['auth', 'send']);
      const held = await stored(bob);
      expect(held.map((m) => m.id)).toEqual([sent.id]);
      // After the socket came back, a retry of the same send over it is the same message.
      await until(() => a.socket.status === 'online');
      const again = await a.relay.sendMessage(bob.username, 'cut-1', toDevice1(bytes(3)));
      expect([again.id, again.duplicate]).toEqual([sent.id, true]);
      expect(a.paths).toEqual(['send:http', 'send:socket']);
      expect((await stored(bob)).length).toBe(1);
    },
  );

  it(`keeps at most ${WS_MAX_REQUESTS_IN_FLIGHT} requests in flight on the socket; the rest go over HTTP, each stored once`, async () => {
    const alice = await registerWithDevice('sfa');
    const bob = await registerWithDevice('sfb');
    const a = await connect(alice);
    const N = WS_MAX_REQUESTS_IN_FLIGHT + 8;
    // All at once: each call writes its frame (or is turned away) before any answer can arrive.
    const sent = await Promise.all(
      Array.from({ length: N }, (_, i) =>
        a.relay.sendMessage(bob.username, `many-${i}`, toDevice1(bytes(i))),
      ),
    );
    expect(a.tap.mostOutstanding).toBe(WS_MAX_REQUESTS_IN_FLIGHT);
    expect(a.tap.written.filter((t) => t === 'send')).toHaveLength(WS_MAX_REQUESTS_IN_FLIGHT);
    expect(a.paths.filter((p) => p === 'send:socket')).toHaveLength(WS_MAX_REQUESTS_IN_FLIGHT);
    expect(a.paths.filter((p) => p === 'send:http')).toHaveLength(N - WS_MAX_REQUESTS_IN_FLIGHT);
    expect(a.http.send).toBe(N - WS_MAX_REQUESTS_IN_FLIGHT);
    expect(sent.every((r) => !r.duplicate)).toBe(true);
    // Every send stored exactly once, and the relay never had reason to close the socket (4429).
    const held = await stored(bob);
    expect(held.map((m) => m.id).sort((x, y) => x - y)).toEqual(sent.map((r) => r.id).sort((x, y) => x - y));
    expect(new Set(held.map((m) => m.id)).size).toBe(N);
    expect(a.tap.outstanding).toBe(0);
    expect(a.socket.status).toBe('online');
    // With the socket free again, the next send takes it.
    await a.relay.sendMessage(bob.username, 'many-after', toDevice1(bytes(1)));
    expect(a.paths.at(-1)).toBe('send:socket');
  });

  it('gives up on a silent socket after the request timeout, sends over HTTP once and reconnects', async () => {
    const alice = await registerWithDevice('sfa');
    const bob = await registerWithDevice('sfb');
    const a = await connect(alice, { timeoutMs: 300 });
    a.tap.fault = 'drop_send_answer';
    const sent = await a.relay.sendMessage(bob.username, 'silent-1', toDevice1(bytes(4)));
    // Whichever arrival the relay stored first, the other found it by client_id.
    expect([a.paths, a.http.send]).toEqual([['send:http'], 1]);
    expect((await stored(bob)).map((m) => m.id)).toEqual([sent.id]);
    // The unanswered request marked the socket dead (ws.ts, liveness): a new one was opened,
    // and the same send over it is the message already stored.
    a.tap.fault = 'none';
    await until(() => a.socket.status === 'online' && a.tap.written.filter((t) => t === 'auth').length === 2);
    const again = await a.relay.sendMessage(bob.username, 'silent-1', toDevice1(bytes(4)));
    expect([again.id, again.duplicate]).toEqual([sent.id, true]);
    expect(a.paths).toEqual(['send:http', 'send:socket']);
    expect((await stored(bob)).length).toBe(1);
  });

  it("maps the relay's error answer on the socket to the same error as over HTTP", async () => {
    const alice = await registerWithDevice('sfa');
    const bob = await registerWithDevice('sfb');
    const a = await connect(alice);
    await a.relay.sendMessage(bob.username, 'reused-1', toDevice1(bytes(5)));
    const overSocket = await a.relay
      .sendMessage(bob.username, 'reused-1', toDevice1(bytes(6)))
      .catch((e: unknown) => e);
    const overHttp = await alice.api
      .sendMessage(bob.username, 'reused-1', toDevice1(bytes(6)))
      .catch((e: unknown) => e);
    const unknownOverSocket = await a.relay
      .sendMessage('nobody_here_at_all', 'u-1', toDevice1(bytes(7)))
      .catch((e: unknown) => e);
    const unknownOverHttp = await alice.api
      .sendMessage('nobody_here_at_all', 'u-1', toDevice1(bytes(7)))
      .catch((e: unknown) => e);
    // Answered on the socket, not retried over HTTP.
    expect(a.http.send).toBe(0);
    expect(a.tap.written.filter((t) => t === 'send')).toHaveLength(3);
    for (const [s, h, code] of [
      [overSocket, overHttp, 'client_id_reused'],
      [unknownOverSocket, unknownOverHttp, 'not_found'],
    ] as const) {
      expect(s).toBeInstanceOf(ApiError);
      expect(h).toBeInstanceOf(ApiError);
      const [se, he] = [s as ApiError, h as ApiError];
      expect([se.status, se.code, se.message]).toEqual([he.status, he.code, he.message]);
      expect(se.code).toBe(code);
      expect(toAppErrorCode(se)).toBe(toAppErrorCode(he));
    }
    expect(a.socket.status).toBe('online');
  });
});
