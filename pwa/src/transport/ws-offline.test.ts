// RelaySocket while the browser has no network: it reports 'offline' and never 'connecting'
// (the banner after an offline reload), opens no socket, and connects once the network is back.
// Timers are faked, so "never" covers every scheduled retry without waiting for any of them.
// @vitest-environment node
import { afterEach, describe, expect, it, vi } from 'vitest';
import { RelaySocket, type SocketLike, type SocketStatus } from './ws.ts';

afterEach(() => {
  vi.useRealTimers();
});

function fakeSocket(): SocketLike {
  return {
    readyState: 0,
    send() {},
    close() {},
    onopen: null,
    onmessage: null,
    onclose: null,
    onerror: null,
  };
}

describe('RelaySocket without a network', () => {
  it('stays offline, opens nothing, and connects when the network returns', async () => {
    vi.useFakeTimers();
    let online = false;
    const statuses: SocketStatus[] = [];
    const createSocket = vi.fn(fakeSocket);
    const token = vi.fn(async () => 'token');
    const socket = new RelaySocket({
      url: 'ws://127.0.0.1:1/ws',
      token,
      cursor: () => 0,
      onFrame: () => undefined,
      onStatus: (s) => statuses.push(s),
      createSocket,
      isOnline: () => online,
      random: () => 0.5,
    });
    socket.start();
    socket.nudge();
    // Every retry the backoff would schedule in ten minutes.
    for (let i = 0; i < 20; i++) await vi.advanceTimersByTimeAsync(30_000);
    expect(statuses).not.toContain('connecting');
    expect(socket.status).toBe('offline');
    expect(createSocket).not.toHaveBeenCalled();
    expect(token).not.toHaveBeenCalled();

    online = true;
    socket.nudge();
    await vi.advanceTimersByTimeAsync(0);
    expect(statuses).toContain('connecting');
    expect(createSocket).toHaveBeenCalledTimes(1);
    socket.stop();
  });

  it('reads navigator.onLine by default', async () => {
    vi.useFakeTimers();
    vi.stubGlobal('navigator', { onLine: false });
    try {
      const statuses: SocketStatus[] = [];
      const createSocket = vi.fn(fakeSocket);
      const socket = new RelaySocket({
        url: 'ws://127.0.0.1:1/ws',
        token: async () => 'token',
        cursor: () => 0,
        onFrame: () => undefined,
        onStatus: (s) => statuses.push(s),
        createSocket,
      });
      socket.start();
      await vi.advanceTimersByTimeAsync(60_000);
      expect(statuses).not.toContain('connecting');
      expect(createSocket).not.toHaveBeenCalled();
      socket.stop();
    } finally {
      vi.unstubAllGlobals();
    }
  });
});
