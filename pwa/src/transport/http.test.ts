// The deadline on every HTTP call (the note at the top of http.ts): a relay (or a link) that never
// answers fails the call as a retryable network error after a bound, a token refresh included,
// so the WebSocket's reconnect, which awaits a token, goes on; a body streamed after the answer
// began is not cut. fetch is a fake that, like the real one, rejects when its signal aborts and
// otherwise never answers unless the test says so. Timers are faked: "still waiting" covers the
// whole bound without waiting for it.
// @vitest-environment node
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { RelayApi } from './api.ts';
import { ApiError } from './errors.ts';
import {
  answerDeadlineMs,
  HTTP_ANSWER_TIMEOUT_MS,
  HttpClient,
  type KeptTokens,
  type TokenKeeper,
  type TokenPlace,
  type Tokens,
} from './http.ts';
import { RelaySocket, type SocketLike, type SocketStatus } from './ws.ts';

/** A fetch that answers only what `answer` returns for the URL, and otherwise hangs until aborted. */
function fakeFetch(answer: (url: string) => Response | null = () => null) {
  const signals: (AbortSignal | null)[] = [];
  const calls: string[] = [];
  const impl = ((input: RequestInfo | URL, init?: RequestInit) => {
    const url = String(input);
    calls.push(url);
    const signal = init?.signal ?? null;
    signals.push(signal);
    return new Promise<Response>((resolve, reject) => {
      if (signal?.aborted) return reject(signal.reason);
      signal?.addEventListener('abort', () => reject(signal.reason), { once: true });
      const response = answer(url);
      if (response) resolve(response);
    });
  }) as typeof fetch;
  return { impl, signals, calls };
}

const tokens = { accessToken: 'access', refreshToken: 'refresh' };

/** Whether a promise has settled, and how, without waiting for it. */
function watch<T>(promise: Promise<T>) {
  const state: { settled: boolean; error?: unknown } = { settled: false };
  promise.then(
    () => {
      state.settled = true;
    },
    (error: unknown) => {
      state.settled = true;
      state.error = error;
    },
  );
  return state;
}

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

describe('HttpClient deadline', () => {
  it(`fails a call with no answer after ${HTTP_ANSWER_TIMEOUT_MS} ms as a network error`, async () => {
    const f = fakeFetch();
    const http = new HttpClient({ baseUrl: '/api', fetch: f.impl });
    http.setTokens(tokens);
    const call = watch(http.request('GET', '/contacts'));
    await vi.advanceTimersByTimeAsync(HTTP_ANSWER_TIMEOUT_MS - 1);
    expect(call.settled).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    expect(call.error).toBeInstanceOf(ApiError);
    expect([(call.error as ApiError).status, (call.error as ApiError).code]).toEqual([0, 'network']);
  });

  it('gives a large body the time to be sent as well', async () => {
    const f = fakeFetch();
    const http = new HttpClient({ baseUrl: '/api', fetch: f.impl });
    http.setTokens(tokens);
    const bytes = new Uint8Array(256 * 1024);
    const deadline = answerDeadlineMs(bytes.byteLength);
    expect(deadline).toBeGreaterThan(HTTP_ANSWER_TIMEOUT_MS);
    const call = watch(http.request('PUT', '/provisioning/x', { bytes }));
    await vi.advanceTimersByTimeAsync(deadline - 1);
    expect(call.settled).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    expect((call.error as ApiError).code).toBe('network');
  });

  it('stops counting once the answer begins: a body streamed after it is not cut', async () => {
    /** Writes the next chunk of the body, or ends it (null). */
    const body: { push?: (chunk: Uint8Array | null) => void } = {};
    const f = fakeFetch(
      () =>
        new Response(
          new ReadableStream<Uint8Array>({
            start(controller) {
              body.push = (chunk) => (chunk ? controller.enqueue(chunk) : controller.close());
            },
          }),
          { status: 200 },
        ),
    );
    const http = new HttpClient({ baseUrl: '/api', fetch: f.impl });
    http.setTokens(tokens);
    const response = await http.send('GET', '/get_photo/p', {}, true);
    await vi.advanceTimersByTimeAsync(3 * HTTP_ANSWER_TIMEOUT_MS);
    expect(f.signals[0]?.aborted ?? false).toBe(false);
    body.push?.(new Uint8Array([1, 2, 3]));
    body.push?.(null);
    expect([...new Uint8Array(await response.arrayBuffer())]).toEqual([1, 2, 3]);
  });

  it("still reports the caller's cancel as aborted, not as a network error", async () => {
    const f = fakeFetch();
    const http = new HttpClient({ baseUrl: '/api', fetch: f.impl });
    http.setTokens(tokens);
    const cancel = new AbortController();
    const call = watch(http.request('GET', '/contacts', { signal: cancel.signal }));
    cancel.abort();
    await vi.advanceTimersByTimeAsync(0);
    expect((call.error as ApiError).code).toBe('aborted');
  });
});

describe('a token refresh that never answers', () => {
  it("fails as a network error, keeps the session and lets the socket's reconnect go on", async () => {
    const f = fakeFetch();
    let ended = false;
    const api = new RelayApi({
      baseUrl: '/api',
      fetch: f.impl,
      onSessionEnded: () => {
        ended = true;
      },
    });
    api.http.setTokens(tokens);
    const statuses: SocketStatus[] = [];
    const createSocket = vi.fn(
      (): SocketLike => ({
        readyState: 0,
        send() {},
        close() {},
        onopen: null,
        onmessage: null,
        onclose: null,
        onerror: null,
      }),
    );
    let asked = 0;
    const socket = new RelaySocket({
      url: 'ws://relay.invalid/ws',
      // As after a 4401 (state/messenger.ts): the socket waits for a fresh token.
      token: async () => {
        asked += 1;
        return (await api.http.refreshTokens()).accessToken;
      },
      cursor: () => 0,
      onFrame: () => undefined,
      onStatus: (s) => statuses.push(s),
      createSocket,
      isOnline: () => true,
      backoff: { baseMs: 100, maxMs: 100 },
      random: () => 0.5,
    });
    socket.start();
    await vi.advanceTimersByTimeAsync(HTTP_ANSWER_TIMEOUT_MS - 1);
    expect([statuses, asked]).toEqual([['connecting'], 1]);
    // The refresh body (under 64 bytes) adds a few milliseconds to the deadline.
    await vi.advanceTimersByTimeAsync(answerDeadlineMs(64) - HTTP_ANSWER_TIMEOUT_MS + 1);
    // The refresh gave up: the connect is rescheduled (not stuck in 'connecting')…
    expect(statuses).toEqual(['connecting', 'offline']);
    // …and tried again after the backoff, with a new refresh.
    await vi.advanceTimersByTimeAsync(50);
    expect([statuses, asked]).toEqual([['connecting', 'offline', 'connecting'], 2]);
    expect(f.calls.filter((u) => u.endsWith('/session/refresh'))).toHaveLength(2);
    // A network failure is not a refusal: the session stays.
    expect([ended, api.http.hasSession]).toEqual([false, true]);
    expect(createSocket).not.toHaveBeenCalled();
    socket.stop();
  });
});

describe('refresh ids (spec/openapi.yaml POST /session/refresh)', () => {
  it('a retry after a lost answer sends the same refresh_id; an exchange after an answer, a new one', async () => {
    const seen: { token: string; id: string }[] = [];
    let lose = true;
    const http = new HttpClient({
      baseUrl: '/api',
      fetch: fakeFetch().impl,
      refresh: async (token, id) => {
        seen.push({ token, id });
        if (lose) {
          lose = false;
          throw new ApiError(0, 'network', 'network error');
        }
        return { accessToken: `a${seen.length}`, refreshToken: `r${seen.length}` };
      },
    });
    http.setTokens(tokens);
    await expect(http.refreshTokens()).rejects.toMatchObject({ code: 'network' });
    expect(http.hasSession).toBe(true);
    await http.refreshTokens();
    // The same token presented again after its answer arrived (a copy, or a stale store) is no
    // retry: it gets an id of its own, and the relay takes it as reuse.
    http.setTokens(tokens);
    await http.refreshTokens();
    await http.refreshTokens();
    const [first, retry, stale, next] = seen as [
      (typeof seen)[0],
      (typeof seen)[0],
      (typeof seen)[0],
      (typeof seen)[0],
    ];
    expect(first.id).toMatch(/^[A-Za-z0-9_-]{22}$/);
    expect([retry.token, retry.id]).toEqual([first.token, first.id]);
    expect(stale.token).toBe(first.token);
    expect(stale.id).not.toBe(first.id);
    expect(next.token).toBe('r3');
    expect(new Set(seen.map((s) => s.id)).size).toBe(3);
  });
});

/** A TokenKeeper in memory: what a store shared by the pages of one browser would hold. */
function memoryKeeper() {
  const log: string[] = [];
  let kept: KeptTokens | null = null;
  let tail: Promise<unknown> = Promise.resolve();
  const state = { refuseWrites: false };
  const place: TokenPlace = {
    read: async () => kept,
    write: async (k) => {
      if (state.refuseWrites) throw new Error('QuotaExceededError');
      log.push(
        k.exchangeId ? `begun ${k.tokens.refreshToken} ${k.exchangeId}` : `got ${k.tokens.refreshToken}`,
      );
      kept = k;
    },
  };
  const keeper: TokenKeeper = {
    exclusive<T>(task: (p: TokenPlace | null) => Promise<T>): Promise<T> {
      const run = () => task(place);
      const result = tail.then(run, run);
      tail = result.catch(() => undefined);
      return result;
    },
  };
  return { keeper, place, log, state, kept: () => kept };
}

/** A client over `keeper` whose relay answers each exchange with the next numbered pair. */
function numberedClient(keeper: TokenKeeper, sent: string[]) {
  return new HttpClient({
    baseUrl: '/api',
    fetch: fakeFetch().impl,
    keeper,
    refresh: async (token, id) => {
      sent.push(`${token} ${id}`);
      return { accessToken: `a${sent.length}`, refreshToken: `r${sent.length}` };
    },
  });
}

/** A client over `keeper` whose exchanges wait until `answer` resolves the newest of them. */
function heldClient(keeper: TokenKeeper, onSend: (token: string, id: string) => void = () => {}) {
  const sent: string[] = [];
  let newest: (t: Tokens) => void = () => {};
  const http = new HttpClient({
    baseUrl: '/api',
    fetch: fakeFetch().impl,
    keeper,
    refresh: (token, id) => {
      sent.push(`${token} ${id}`);
      onSend(token, id);
      return new Promise<Tokens>((resolve) => {
        newest = resolve;
      });
    },
  });
  return { http, sent, answer: (t: Tokens) => newest(t) };
}

describe('tokens kept for the other pages (TokenKeeper)', () => {
  it('keeps the exchange before sending it and the answer after; a page signed out meanwhile gets no tokens back', async () => {
    const k = memoryKeeper();
    // The exchange was kept before it left.
    const { http, sent, answer } = heldClient(k.keeper, (token, id) =>
      expect(k.log).toEqual([`begun ${token} ${id}`]),
    );
    http.setTokens(tokens);
    const refreshing = http.refreshTokens();
    await vi.waitFor(() => expect(sent).toHaveLength(1));
    http.setTokens(null);
    answer({ accessToken: 'a2', refreshToken: 'r2' });
    await expect(refreshing).rejects.toMatchObject({ code: 'network' });
    expect(http.current).toBeNull();
    expect(k.kept()).toEqual({ tokens: { accessToken: 'a2', refreshToken: 'r2' } });
  });

  it('a page locked while its refresh was in the air (the store refusing writes), then unlocked, retries that exchange with its id', async () => {
    const k = memoryKeeper();
    const { http, sent, answer } = heldClient(k.keeper);
    http.setTokens(tokens);
    const refreshing = http.refreshTokens();
    await vi.waitFor(() => expect(sent).toHaveLength(1));
    // Locked: the tokens leave memory and the store takes no writes.
    http.setTokens(null);
    k.state.refuseWrites = true;
    answer({ accessToken: 'a2', refreshToken: 'r2' });
    await expect(refreshing).rejects.toMatchObject({ code: 'network' });
    // Unlocked: the page reads the store again ('refresh', begun with the first id).
    k.state.refuseWrites = false;
    const kept = k.kept();
    expect(kept?.exchangeId).toBeDefined();
    http.setTokens(kept?.tokens ?? null);
    const again = http.refreshTokens();
    await vi.waitFor(() => expect(sent).toHaveLength(2));
    expect(sent[1]).toBe(sent[0]);
    answer({ accessToken: 'a3', refreshToken: 'r3' });
    expect((await again).refreshToken).toBe('r3');
  });

  it('knows the id of an exchange of the token it holds that had no answer, until one comes', async () => {
    let lose = true;
    const http = new HttpClient({
      baseUrl: '/api',
      fetch: fakeFetch().impl,
      refresh: async () => {
        if (lose) throw new ApiError(0, 'network', 'network error');
        return { accessToken: 'a2', refreshToken: 'r2' };
      },
    });
    http.setTokens(tokens);
    expect(http.unansweredExchange).toBeUndefined();
    await expect(http.refreshTokens()).rejects.toMatchObject({ code: 'network' });
    expect(http.unansweredExchange).toMatch(/^[A-Za-z0-9_-]{22}$/);
    lose = false;
    await http.refreshTokens();
    expect(http.unansweredExchange).toBeUndefined();
  });

  it('forgets an unanswered exchange when signed out or locked: no refresh token stays in memory', async () => {
    const ids: string[] = [];
    const http = new HttpClient({
      baseUrl: '/api',
      fetch: fakeFetch().impl,
      refresh: async (_token, id) => {
        ids.push(id);
        throw new ApiError(0, 'network', 'network error');
      },
    });
    http.setTokens(tokens);
    await expect(http.refreshTokens()).rejects.toMatchObject({ code: 'network' });
    http.setTokens(null);
    // The same token again, as read from a store that holds no exchange id for it.
    http.setTokens(tokens);
    expect(http.unansweredExchange).toBeUndefined();
    await expect(http.refreshTokens()).rejects.toMatchObject({ code: 'network' });
    expect(ids[1]).not.toBe(ids[0]);
  });

  it('a page holding a token the keeper has replaced presents the kept one, with the kept exchange id', async () => {
    const k = memoryKeeper();
    await k.place.write({ tokens: { accessToken: '', refreshToken: 'r9' }, exchangeId: 'lost-exchange' });
    const sent: string[] = [];
    const http = numberedClient(k.keeper, sent);
    http.setTokens(tokens);
    expect(await http.refreshTokens()).toEqual({ accessToken: 'a1', refreshToken: 'r1' });
    expect(sent).toEqual(['r9 lost-exchange']);
    expect(http.current?.refreshToken).toBe('r1');
  });

  it('a store that refused the new pair still holds a token this page exchanged: the page presents its own', async () => {
    const k = memoryKeeper();
    const sent: string[] = [];
    const http = numberedClient(k.keeper, sent);
    http.setTokens(tokens);
    await http.refreshTokens();
    // From now on the store refuses writes: it keeps r1 while the page exchanges r1 for r2.
    k.state.refuseWrites = true;
    await http.refreshTokens();
    expect(k.kept()?.tokens.refreshToken).toBe('r1');
    k.state.refuseWrites = false;
    await http.refreshTokens();
    expect(sent.map((s) => s.split(' ')[0])).toEqual(['refresh', 'r1', 'r2']);
    expect(k.kept()?.tokens.refreshToken).toBe('r3');
  });

  it('gives an exchange whose answer never ends up as lost, so the lock every tab waits for is let go', async () => {
    const k = memoryKeeper();
    const sent: string[] = [];
    const http = new HttpClient({
      baseUrl: '/api',
      fetch: fakeFetch().impl,
      keeper: k.keeper,
      refresh: (token, id) => {
        sent.push(`${token} ${id}`);
        if (sent.length === 1) return new Promise<Tokens>(() => {});
        return Promise.resolve({ accessToken: 'a2', refreshToken: 'r2' });
      },
    });
    http.setTokens(tokens);
    const refreshing = watch(http.refreshTokens());
    await vi.advanceTimersByTimeAsync(HTTP_ANSWER_TIMEOUT_MS + 4_999);
    expect(refreshing.settled).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    expect(refreshing.error).toMatchObject({ code: 'network' });
    expect(http.hasSession).toBe(true);
    // The lock is free: the next refresh runs, a retry of the same exchange.
    expect((await http.refreshTokens()).refreshToken).toBe('r2');
    expect(sent[1]).toBe(sent[0]);
  });
});
