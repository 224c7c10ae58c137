// RelaySocket's liveness rule (the note at the top of ws.ts): a socket that owes an answer — its
// `ready`, or the responses to requests written on it — and stays silent past its bound is dead;
// it is dropped, its requests are made over HTTP (SocketFirst) and a new socket is opened. The
// relay here is a fake behind the SocketLike surface that answers the auth frame and then
// answers, or silently drops, what it is sent: a link that died without a close. Timers are
// faked, so "at once" means no timer had to fire, and "not dropped" covers the whole bound
// without waiting for it.
// @vitest-environment node
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { RelayApi, SendResult } from './api.ts';
import { SocketFirst } from './socket-first.ts';
import {
  RelaySocket,
  type SocketLike,
  type SocketStatus,
  WS_READY_TIMEOUT_MS,
  WS_REQUEST_TIMEOUT_MS,
  WS_SILENCE_LIMIT_MS,
} from './ws.ts';

/** What the fake relay does with the frames a socket sends it. */
type Mode = 'answer' | 'silent' | 'no_ready';

class FakeRelaySocket implements SocketLike {
  readyState = 0;
  onopen: ((ev: unknown) => void) | null = null;
  onmessage: ((ev: { data: unknown }) => void) | null = null;
  onclose: ((ev: { code: number }) => void) | null = null;
  onerror: ((ev: unknown) => void) | null = null;
  closedWith: number | null = null;
  readonly requests: number[] = [];

  constructor(public mode: Mode) {
    queueMicrotask(() => {
      this.readyState = 1;
      this.onopen?.({});
    });
  }

  send(data: string): void {
    const frame = JSON.parse(data) as { type: string; id?: number };
    if (this.mode === 'no_ready') return;
    if (frame.type === 'auth') {
      this.push({ type: 'ready', cursor: 0 });
      return;
    }
    this.requests.push(frame.id ?? -1);
    if (this.mode === 'answer') this.answer(frame.id ?? -1);
  }

  answer(id: number): void {
    this.push({ type: 'response', id, status: 200, body: { id: 1000 + id, duplicate: false, copies: [] } });
  }

  push(frame: object): void {
    queueMicrotask(() => this.onmessage?.({ data: JSON.stringify(frame) }));
  }

  close(code?: number): void {
    // A dead link: the close handshake never completes, so no close event comes back.
    this.closedWith = code ?? 1005;
    this.readyState = 2;
  }
}

/** `requestTimeoutMs`: SocketFirst's wait per request (default WS_REQUEST_TIMEOUT_MS). */
function setup(firstMode: Mode, requestTimeoutMs?: number) {
  const sockets: FakeRelaySocket[] = [];
  const statuses: SocketStatus[] = [];
  /** The mode of the next socket the client opens. */
  let nextMode: Mode = firstMode;
  const socket = new RelaySocket({
    url: 'ws://relay.invalid/ws',
    token: async () => 'token',
    cursor: () => 0,
    onFrame: () => undefined,
    onStatus: (s) => statuses.push(s),
    createSocket: () => {
      const s = new FakeRelaySocket(nextMode);
      sockets.push(s);
      return s;
    },
    isOnline: () => true,
    backoff: { baseMs: 100, maxMs: 100 },
    random: () => 0.5,
  });
  const http = { sends: 0 };
  const api: Pick<RelayApi, 'sendMessage' | 'ack'> = {
    sendMessage: async (): Promise<SendResult> => {
      http.sends += 1;
      return { id: 1, duplicate: false, copies: [] };
    },
    ack: async () => ({ acked: 0, photos_acked: 0 }),
  };
  const paths: string[] = [];
  const relay = new SocketFirst({
    api,
    socket: () => socket,
    onPath: (_, path) => paths.push(path),
    ...(requestTimeoutMs === undefined ? {} : { timeoutMs: requestTimeoutMs }),
  });
  /** Starts a send and reports whether it has settled, without waiting for it. */
  const send = (clientId: string) => {
    const state = { settled: false };
    void relay.sendMessage('bob', clientId, [{ deviceId: 1, body: new Uint8Array([1]) }]).finally(() => {
      state.settled = true;
    });
    return state;
  };
  return {
    socket,
    sockets,
    statuses,
    http,
    paths,
    send,
    setNextMode: (m: Mode) => {
      nextMode = m;
    },
  };
}

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

describe('RelaySocket liveness', () => {
  it('drops a socket whose request went unanswered: the next send goes over HTTP at once, and a new socket carries sends again', async () => {
    // A request timeout shorter than the silence bound: the timeout is the rule at work here.
    const timeoutMs = WS_SILENCE_LIMIT_MS / 5;
    const t = setup('silent', timeoutMs);
    t.socket.start();
    await vi.advanceTimersByTimeAsync(0);
    expect(t.socket.status).toBe('online');

    // The relay accepted the socket and then hears nothing: the first send waits out its
    // timeout and is made over HTTP.
    t.setNextMode('answer');
    const first = t.send('c1');
    await vi.advanceTimersByTimeAsync(timeoutMs - 1);
    expect(first.settled).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    expect([first.settled, t.paths, t.http.sends]).toEqual([true, ['http'], 1]);

    // The next one does not wait on the dead socket again.
    const second = t.send('c2');
    await vi.advanceTimersByTimeAsync(0);
    expect([second.settled, t.paths, t.http.sends]).toEqual([true, ['http', 'http'], 2]);
    expect(t.sockets[0]?.requests).toHaveLength(1);
    expect(t.sockets[0]?.closedWith).not.toBeNull();

    // Reconnected through the backoff: the new socket answers, and sends take it again.
    await vi.advanceTimersByTimeAsync(100);
    expect([t.sockets.length, t.socket.status]).toEqual([2, 'online']);
    const third = t.send('c3');
    await vi.advanceTimersByTimeAsync(0);
    expect([third.settled, t.paths.at(-1), t.http.sends]).toEqual([true, 'socket', 2]);
    t.socket.stop();
  });

  it(`drops a socket silent for ${WS_SILENCE_LIMIT_MS} ms while requests wait, before their own timeout`, async () => {
    const t = setup('silent');
    t.socket.start();
    await vi.advanceTimersByTimeAsync(0);
    const a = t.send('c1');
    await vi.advanceTimersByTimeAsync(WS_SILENCE_LIMIT_MS / 2);
    const b = t.send('c2');
    // A request written later does not push the bound out: it counts from the first owed answer.
    await vi.advanceTimersByTimeAsync(WS_SILENCE_LIMIT_MS / 2 - 1);
    expect([a.settled, b.settled]).toEqual([false, false]);
    await vi.advanceTimersByTimeAsync(1);
    expect([a.settled, b.settled, t.http.sends]).toEqual([true, true, 2]);
    expect(t.statuses.at(-1)).toBe('offline');
    expect(t.sockets[0]?.closedWith).toBe(4000);
    t.socket.stop();
  });

  it('keeps a socket that answers slowly while other frames arrive, and one that is idle', async () => {
    const t = setup('silent');
    t.socket.start();
    await vi.advanceTimersByTimeAsync(0);
    // Idle: nothing owed, so no silence is too long.
    await vi.advanceTimersByTimeAsync(10 * 60_000);
    expect([t.socket.status, t.sockets.length]).toEqual(['online', 1]);

    // Owed an answer that comes late, with stream items arriving meanwhile: alive.
    const s = t.sockets[0] as FakeRelaySocket;
    const slow = t.send('c1');
    // Frames just inside the silence bound, for as long as the request's own timeout allows.
    const frames = Math.floor((WS_REQUEST_TIMEOUT_MS - 1) / (WS_SILENCE_LIMIT_MS - 1));
    expect(frames).toBeGreaterThanOrEqual(2);
    for (let i = 1; i <= frames; i++) {
      await vi.advanceTimersByTimeAsync(WS_SILENCE_LIMIT_MS - 1);
      s.push({ type: 'delivered', seq: i, message_id: i, client_id: `x${i}`, to: 'bob', created_at: '' });
    }
    await vi.advanceTimersByTimeAsync(0);
    expect(slow.settled).toBe(false);
    s.answer(s.requests[0] as number);
    await vi.advanceTimersByTimeAsync(0);
    expect([slow.settled, t.paths, t.http.sends, t.sockets.length]).toEqual([true, ['socket'], 0, 1]);
    expect(s.closedWith).toBeNull();
    t.socket.stop();
  });

  it(`drops a socket that has no ready ${WS_READY_TIMEOUT_MS} ms after it was opened, and opens another`, async () => {
    const t = setup('no_ready');
    t.socket.start();
    await vi.advanceTimersByTimeAsync(WS_READY_TIMEOUT_MS - 1);
    expect([t.socket.status, t.sockets.length]).toEqual(['connecting', 1]);
    t.setNextMode('answer');
    await vi.advanceTimersByTimeAsync(1);
    expect(t.sockets[0]?.closedWith).toBe(4000);
    await vi.advanceTimersByTimeAsync(100);
    expect([t.socket.status, t.sockets.length]).toEqual(['online', 2]);
    expect(t.statuses).toEqual(['connecting', 'offline', 'connecting', 'online']);
    t.socket.stop();
  });
});
