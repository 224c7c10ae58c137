// The transport layer against the real relay (no browser): typed errors with the relay's
// codes, one shared refresh for concurrent 401s, a refused (reused) refresh token ending the
// session, a refresh whose answer was lost made again without ending it, and the WebSocket
// client authenticating with its first frame.
import { generate } from 'otplib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { uploadTestDevice } from '../src/test/device-keys.ts';
import { RelayApi } from '../src/transport/api.ts';
import { ApiError } from '../src/transport/errors.ts';
import type { TokenKeeper } from '../src/transport/http.ts';
import { RelaySocket, type ServerFrame, type SocketLike } from '../src/transport/ws.ts';
import { type RunningRelay, startRelay } from './relay.ts';

const ORIGIN = 'http://127.0.0.1:1';
let relay: RunningRelay;
let base: string;

beforeAll(async () => {
  relay = await startRelay(ORIGIN);
  base = `http://127.0.0.1:${relay.port}`;
});
afterAll(async () => {
  await relay?.stop();
});

/** Keeps nothing (the tokens in memory are used); records each new refresh token it is given. */
const recorder = (rotations: string[]): TokenKeeper => ({
  exclusive: (task) =>
    task({
      read: async () => null,
      write: async (kept) => {
        if (!kept.exchangeId) rotations.push(kept.tokens.refreshToken);
      },
    }),
});

async function account(name: string, onSessionEnded?: () => void) {
  const rotations: string[] = [];
  const api = new RelayApi({
    baseUrl: base,
    keeper: recorder(rotations),
    ...(onSessionEnded ? { onSessionEnded } : {}),
  });
  const start = await api.register(name);
  expect(start.qrImageUrl.startsWith('data:image/png;base64,')).toBe(true);
  const session = await api.confirmRegistration(start.username, await generate({ secret: start.secret }));
  expect(session.recoveryCodes.length).toBeGreaterThan(0);
  await uploadTestDevice(api, start.username);
  return { api, session, rotations };
}

const run = Math.random().toString(36).slice(2, 7);

describe('transport against the relay', () => {
  it("maps the relay's errors to typed ApiErrors", async () => {
    const api = new RelayApi({ baseUrl: base });
    await expect(api.register('x')).rejects.toMatchObject({ status: 400, code: 'invalid_username' });
    await expect(api.login(`nobody_${run}`, '123456')).rejects.toMatchObject({ code: 'unknown_user' });
    await expect(api.keyStatus()).rejects.toBeInstanceOf(ApiError);
  });

  it('refreshes once for concurrent 401s and retries each call', async () => {
    const { api, rotations } = await account(`tr_a_${run}`);
    const refresh = api.http.refreshTokens.bind(api.http);
    // A forged access token: every call gets 401 and must recover through ONE rotation.
    api.http.setTokens({ accessToken: 'aaa.bbb.ccc', refreshToken: (await refresh()).refreshToken });
    const before = rotations.length;
    const results = await Promise.all([api.keyStatus(), api.contacts(), api.keyStatus()]);
    expect(results).toHaveLength(3);
    expect(rotations.length - before).toBe(1);
  });

  it('ends the session when a rotated refresh token is presented again', async () => {
    let ended = 0;
    const { api } = await account(`tr_b_${run}`, () => {
      ended += 1;
    });
    const first = await api.http.refreshTokens();
    const second = await api.http.refreshTokens();
    expect(second.refreshToken).not.toBe(first.refreshToken);
    // Replay the older token: the relay revokes the session; the client reports it once.
    api.http.setTokens({ accessToken: 'aaa.bbb.ccc', refreshToken: first.refreshToken });
    await expect(api.keyStatus()).rejects.toMatchObject({ status: 401 });
    expect(ended).toBe(1);
    expect(api.http.hasSession).toBe(false);
  });

  it('keeps the session when a refresh the relay carried out loses its answer', async () => {
    let ended = 0;
    // The relay gets the refresh and rotates the token, but the answer never reaches the client
    // (a link that drops mid-answer): the client sees a network error and still holds only the
    // token it sent.
    let loseNextRefreshAnswer = false;
    const lossy: typeof fetch = async (input, init) => {
      const response = await fetch(input, init);
      if (loseNextRefreshAnswer && String(input).endsWith('/session/refresh')) {
        loseNextRefreshAnswer = false;
        expect(response.status).toBe(200);
        await response.body?.cancel();
        throw new TypeError('network error');
      }
      return response;
    };
    const { api, rotations } = await account(`tr_e_${run}`, () => {
      ended += 1;
    });
    const held = (await api.http.refreshTokens()).refreshToken;
    const lossyApi = new RelayApi({
      baseUrl: base,
      fetch: lossy,
      keeper: recorder(rotations),
      onSessionEnded: () => {
        ended += 1;
      },
    });
    lossyApi.http.setTokens({ accessToken: 'aaa.bbb.ccc', refreshToken: held });
    loseNextRefreshAnswer = true;
    await expect(lossyApi.keyStatus()).rejects.toMatchObject({ code: 'network' });
    expect(lossyApi.http.hasSession).toBe(true);
    // The next call refreshes again with the same token and the same refresh_id: a retry,
    // answered, the session lives.
    const before = rotations.length;
    await lossyApi.keyStatus();
    expect(rotations.length - before).toBe(1);
    expect(rotations.at(-1)).not.toBe(held);
    expect(ended).toBe(0);
    expect(lossyApi.http.hasSession).toBe(true);
  });

  it('authenticates the WebSocket with its first frame and receives the stream', async () => {
    const alice = await account(`tr_c_${run}`);
    const bob = await account(`tr_d_${run}`);
    const frames: ServerFrame[] = [];
    const socket = new RelaySocket({
      url: `ws://127.0.0.1:${relay.port}/ws`,
      token: async () => bob.api.http.accessToken,
      cursor: () => 0,
      onFrame: (f) => frames.push(f),
      createSocket: (u) => new WebSocket(u, { origin: ORIGIN }) as unknown as SocketLike,
    });
    socket.start();
    try {
      await expect.poll(() => socket.status, { timeout: 5000, interval: 50 }).toBe('online');
      await alice.api.sendMessage(`tr_d_${run}`, `cid-${run}`, [
        { deviceId: 1, body: new Uint8Array([1, 2, 3]) },
      ]);
      await expect
        .poll(() => frames.some((f) => f.type === 'message'), { timeout: 5000, interval: 50 })
        .toBe(true);
      const msg = frames.find((f) => f.type === 'message');
      expect(msg).toMatchObject({ type: 'message', from: `tr_c_${run}`, body: 'AQID' });
    } finally {
      socket.stop();
    }
  });
});
