// HTTP_MAX_CONNECTIONS (README "Configuration"): the TCP connections the relay's HTTP server
// holds at once, WebSockets included. Its default from /proc/self/limits; the warning about
// dropped connections, at most once a minute; and the real relay at a cap of 3: a fourth
// connection is closed unanswered, and a freed slot serves again.
import { EventEmitter } from 'node:events';
import { readFileSync } from 'node:fs';
import type { Server } from 'node:http';
import { connect, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it, onTestFinished, vi } from 'vitest';
import WebSocket from 'ws';
import {
  defaultMaxConnections,
  FALLBACK_MAX_CONNECTIONS,
  MAX_CONNECTIONS_CAP,
  processMaxConnections,
  softOpenFileLimit,
} from '../src/http/max-connections.js';
import { reportDrops } from '../src/http/node-server.js';
import type { Logger } from '../src/logger.js';
import { startTestApp } from './helpers/app.js';
import { freshDatabase, type TestDatabase } from './helpers/db.js';
import { ORIGIN } from './helpers/relay-data.js';

/** /proc/self/limits as Linux writes it (proc(5)), with the given "Max open files" limits. */
const limits = (soft: string, hard: string) =>
  [
    'Limit                     Soft Limit           Hard Limit           Units     ',
    'Max cpu time              unlimited            unlimited            seconds   ',
    'Max file size             unlimited            unlimited            bytes     ',
    'Max processes             unlimited            unlimited            processes ',
    `Max open files            ${soft.padEnd(20)} ${hard.padEnd(20)} files     `,
    'Max locked memory         8388608              8388608              bytes     ',
    'Max realtime timeout      unlimited            unlimited            us        ',
    '',
  ].join('\n');

describe('the default from /proc/self/limits', () => {
  it('reads the soft limit, not the hard one', () => {
    expect(softOpenFileLimit(limits('20000', '1048576'))).toBe(20_000);
    expect(softOpenFileLimit(limits('1024', '4096'))).toBe(1024);
  });

  it('reads "unlimited" as no limit', () => {
    expect(softOpenFileLimit(limits('unlimited', 'unlimited'))).toBe(Number.POSITIVE_INFINITY);
  });

  it('finds nothing in text without the line or with a value that is not a count', () => {
    expect(softOpenFileLimit('')).toBeUndefined();
    expect(softOpenFileLimit('Max processes  63459  63459  processes\n')).toBeUndefined();
    expect(softOpenFileLimit(limits('lots', 'lots'))).toBeUndefined();
    expect(softOpenFileLimit(limits('0', '0'))).toBeUndefined();
  });

  it('keeps a quarter of the descriptors back, caps the rest, and falls back where unreadable', () => {
    expect(defaultMaxConnections(limits('20000', '20000'))).toBe(15_000);
    expect(defaultMaxConnections(limits('1024', '1024'))).toBe(768);
    expect(defaultMaxConnections(limits('1048576', '1048576'))).toBe(MAX_CONNECTIONS_CAP);
    expect(defaultMaxConnections(limits('unlimited', 'unlimited'))).toBe(MAX_CONNECTIONS_CAP);
    expect(defaultMaxConnections(limits('1', '1'))).toBe(1);
    expect(defaultMaxConnections(undefined)).toBe(FALLBACK_MAX_CONNECTIONS);
    expect(defaultMaxConnections('no such line')).toBe(FALLBACK_MAX_CONNECTIONS);
  });

  it('is what this process reads (Linux)', () => {
    expect(processMaxConnections()).toBe(defaultMaxConnections(readFileSync('/proc/self/limits', 'utf8')));
  });
});

describe('the warning about dropped connections', () => {
  afterAll(() => {
    vi.useRealTimers();
  });

  it('warns at the first drop, then at most once a minute with the number dropped, and not while none are', () => {
    vi.useFakeTimers();
    const warned: Record<string, unknown>[] = [];
    const logger = {
      warn: (fields: Record<string, unknown>) => void warned.push(fields),
    } as unknown as Logger;
    const server = new EventEmitter();
    reportDrops(server, logger, 3);

    server.emit('drop', { remoteAddress: '198.51.100.7' });
    expect(warned).toEqual([{ dropped: 1, total: 1, maxConnections: 3, intervalSeconds: 60 }]);
    for (let i = 0; i < 5; i++) server.emit('drop', {});
    vi.advanceTimersByTime(59_999);
    expect(warned).toHaveLength(1);
    vi.advanceTimersByTime(1);
    expect(warned[1]).toEqual({ dropped: 5, total: 6, maxConnections: 3, intervalSeconds: 60 });
    // A quiet minute: no line, and the next drop is reported at once again.
    vi.advanceTimersByTime(10 * 60_000);
    expect(warned).toHaveLength(2);
    server.emit('drop', {});
    expect(warned[2]).toEqual({ dropped: 1, total: 7, maxConnections: 3, intervalSeconds: 60 });
    expect(JSON.stringify(warned)).not.toContain('198.51.100.7');
  });
});

describe('the relay at HTTP_MAX_CONNECTIONS', () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await freshDatabase();
  });
  afterAll(async () => {
    await db?.drop();
  });

  const connections = (server: Server) =>
    new Promise<number>((resolve, reject) =>
      server.getConnections((err, n) => (err ? reject(err) : resolve(n))),
    );

  /** Resolves once `server` has accepted `n` connections from now on. */
  const accepted = (server: Server, n: number) =>
    new Promise<void>((resolve) => {
      let seen = 0;
      const onConnection = () => {
        if (++seen < n) return;
        server.off('connection', onConnection);
        resolve();
      };
      server.on('connection', onConnection);
    });

  const openRaw = (port: number) =>
    new Promise<Socket>((resolve, reject) => {
      const sock = connect(port, '127.0.0.1', () => resolve(sock));
      sock.once('error', reject);
    });

  it('closes the connection past the cap without an answer, and serves again once one closes', async () => {
    const t = await startTestApp({
      databaseUrl: db.url,
      // The WebSocket below stays unauthenticated for the whole test.
      env: { HTTP_MAX_CONNECTIONS: '3', WS_AUTH_TIMEOUT_MS: '60000' },
    });
    const held: Socket[] = [];
    let ws: WebSocket | undefined;
    onTestFinished(async () => {
      for (const s of held) s.destroy();
      ws?.terminate();
      await t.close();
    });
    expect(t.server.maxConnections).toBe(3);
    const port = Number(new URL(t.baseUrl).port);
    let drops = 0;
    t.server.on('drop', () => {
      drops++;
    });

    // Two idle raw connections (never a byte) and a WebSocket: an upgraded socket is still one
    // of the HTTP server's connections.
    const three = accepted(t.server, 3);
    held.push(await openRaw(port), await openRaw(port));
    ws = new WebSocket(`${t.baseUrl.replace(/^http/, 'ws')}/ws`, { origin: ORIGIN });
    await new Promise<void>((resolve, reject) => {
      ws?.once('open', () => resolve());
      ws?.once('error', reject);
    });
    await three;
    expect(await connections(t.server)).toBe(3);

    // The fourth: the kernel completes its handshake, then Node closes it on accepting it.
    const fourth = connect(port, '127.0.0.1');
    let data = '';
    fourth.on('connect', () => fourth.write('GET /health HTTP/1.1\r\nHost: relay\r\n\r\n'));
    fourth.on('data', (c: Buffer) => {
      data += c.toString('latin1');
    });
    fourth.on('error', () => undefined); // a reset, if the request was written before the close
    await new Promise<void>((resolve) => fourth.once('close', () => resolve()));
    expect(data).toBe('');
    expect(drops).toBe(1);
    const warnings = t.logs.filter((l) => l.includes('HTTP_MAX_CONNECTIONS reached'));
    expect(warnings).toHaveLength(1);
    expect(JSON.parse(warnings[0] as string)).toMatchObject({
      level: 40,
      dropped: 1,
      total: 1,
      maxConnections: 3,
    });
    expect(warnings[0]).not.toContain('127.0.0.1');
    // The three held connections were not disturbed.
    expect(ws.readyState).toBe(WebSocket.OPEN);
    expect(held.every((s) => !s.destroyed)).toBe(true);

    // One of the three closes: once the server has seen it, a new connection is answered.
    held.shift()?.destroy();
    await expect.poll(() => connections(t.server), { timeout: 5_000, interval: 20 }).toBe(2);
    const res = await t.api.get('/health');
    expect([res.status, res.body]).toEqual([200, { status: 'ok' }]);
    expect(drops).toBe(1);
  });
});
