// How the relay's HTTP server closes a connection after an answer that says Connection: close
// (src/http/node-server.ts, RFC 9112 §9.6): half-close, read and discard what the client still
// sends until it closes or the linger bound passes, and process no request sent meanwhile; the
// 408 of a body deadline closes the same way; a keep-alive early answer drops the rest of its
// body for no longer than the same bound.
// A real server on a port of its own, driven over raw sockets. The relay's own routes are
// exercised the same way in faults.test.ts ("an answer given before the body was read").
import type { AddressInfo } from 'node:net';
import { connect, type Socket } from 'node:net';
import express from 'express';
import { afterEach, describe, expect, it } from 'vitest';
import type { HttpTimeouts } from '../src/config.js';
import { bodyDeadline } from '../src/http/deadline.js';
import { errorHandler, notFoundHandler } from '../src/http/errors.js';
import { createRelayServer } from '../src/http/node-server.js';
import { createLogger } from '../src/logger.js';

const timeouts: HttpTimeouts = {
  headersMs: 10_000,
  requestMs: 10_000,
  uploadIdleMs: 10_000,
  uploadMaxMs: 60_000,
};

let closeServer: (() => Promise<void>) | undefined;
afterEach(async () => {
  await closeServer?.();
  closeServer = undefined;
});

/**
 * A server whose POST /refuse answers 413 with Connection: close without reading the body, whose
 * POST /json has a body deadline of `requestMs` (408), and which answers anything else with the
 * relay's keep-alive 404, also without reading the body; the relay's error handler.
 */
async function start(lingerMs: number, requestMs = 60_000) {
  const served: string[] = [];
  const app = express();
  app.post('/json', bodyDeadline(requestMs), express.json({ limit: '10mb' }), (_req, res) => {
    served.push('json');
    res.json({ ok: true });
  });
  app.post('/refuse', (_req, res) => {
    served.push('refuse');
    res.set('Connection', 'close').status(413).json({ error: 'payload_too_large', message: 'no' });
  });
  app.get('/next', (_req, res) => {
    served.push('next');
    res.json({ ok: true });
  });
  const logger = createLogger('silent');
  app.use(notFoundHandler);
  app.use(errorHandler(logger));
  const server = createRelayServer(app, timeouts, logger, { lingerMs });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  closeServer = async () => {
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
  };
  const connections = () =>
    new Promise<number>((resolve, reject) =>
      server.getConnections((err, n) => (err ? reject(err) : resolve(n))),
    );
  return { port, served, connections };
}

const refuseHead = (length: number) =>
  `POST /refuse HTTP/1.1\r\nHost: relay\r\nContent-Length: ${length}\r\n\r\n`;

function closed(sock: Socket): Promise<{ data: string; reset: boolean }> {
  return new Promise((resolve) => {
    let data = '';
    let reset = false;
    sock.on('data', (c: Buffer) => {
      data += c.toString('latin1');
    });
    sock.on('error', () => {
      reset = true;
    });
    sock.on('close', () => resolve({ data, reset }));
  });
}

describe('closing a connection in stages', () => {
  it('stops reading a client that keeps sending after the answer once the linger bound passes', async () => {
    const { port } = await start(200);
    // Half-open allowed: the client does not close its side on the relay's FIN, and goes on.
    const sock = connect({ port, host: '127.0.0.1', allowHalfOpen: true });
    const ended = closed(sock);
    sock.write(refuseHead(1_000_000_000));
    // A slow sender that never finishes its announced gigabyte: only the bound ends it.
    const chunk = Buffer.alloc(1024);
    const drip = setInterval(() => {
      if (sock.writable) sock.write(chunk);
    }, 10);
    try {
      const { data } = await ended;
      expect(data).toMatch(/^HTTP\/1\.1 413 /);
    } finally {
      clearInterval(drip);
    }
  });

  it('closes as soon as the client closes its side, long before the bound', async () => {
    const { port, connections } = await start(600_000);
    const sock = connect(port, '127.0.0.1');
    const ended = closed(sock);
    sock.write(`${refuseHead(10)}0123`); // part of the body only
    const { data, reset } = await ended; // the client's side ends on the relay's FIN
    expect(data).toMatch(/^HTTP\/1\.1 413 /);
    expect(reset).toBe(false);
    // Had the relay waited for its bound (ten minutes), this would time out.
    await expect.poll(connections, { timeout: 5_000, interval: 20 }).toBe(0);
  });

  it('never processes a request pipelined after the answer that said Connection: close', async () => {
    const { port, served } = await start(600_000);
    // Half-open allowed: it keeps sending after the relay's FIN, as a careless client would.
    const sock = connect({ port, host: '127.0.0.1', allowHalfOpen: true });
    const ended = closed(sock);
    sock.write(`${refuseHead(4)}body`);
    await new Promise<void>((r) => sock.once('data', () => r())); // the 413 is here
    sock.write('GET /next HTTP/1.1\r\nHost: relay\r\n\r\n');
    sock.end();
    const { data } = await ended;
    expect(data).toMatch(/^HTTP\/1\.1 413 /);
    expect(data).not.toContain('"ok"');
    expect(served).toEqual(['refuse']);
  });

  it('reads and drops what the client sends while it lingers', async () => {
    const { port } = await start(1_000);
    const sock = connect({ port, host: '127.0.0.1', allowHalfOpen: true });
    const ended = closed(sock);
    sock.write(refuseHead(1_000_000_000));
    const chunk = Buffer.alloc(64 * 1024);
    let sent = 0;
    let stop = false;
    const pump = () => {
      while (!stop && sock.writable) {
        sent += chunk.length;
        if (!sock.write(chunk)) return void sock.once('drain', pump);
      }
    };
    pump();
    try {
      const { data } = await ended;
      expect(data).toMatch(/^HTTP\/1\.1 413 /);
      // Far more than the socket buffers hold: the relay went on reading after its answer.
      expect(sent).toBeGreaterThan(16 * 1024 * 1024);
    } finally {
      stop = true;
    }
  });

  it('bounds a keep-alive early answer (a 404) whose announced body keeps dripping', async () => {
    // The body deadline is not on this route; only the linger bound can end it.
    const { port } = await start(200);
    const sock = connect(port, '127.0.0.1');
    const ended = closed(sock);
    sock.write('POST /no-such-route HTTP/1.1\r\nHost: relay\r\nContent-Length: 1000000000\r\n\r\nxx');
    const drip = setInterval(() => {
      if (sock.writable) sock.write('x');
    }, 10);
    try {
      const { data } = await ended; // open for good before the bound existed
      expect(data).toMatch(/^HTTP\/1\.1 404 /);
    } finally {
      clearInterval(drip);
    }
  });

  it('a 408 for a slow (not stalled) body reaches a client that goes on sending, without a reset', async () => {
    const { port } = await start(5_000, 300);
    // Half-open allowed: it keeps sending after the relay's FIN, as an uploading proxy does.
    const sock = connect({ port, host: '127.0.0.1', allowHalfOpen: true });
    let data = '';
    let writeError: string | undefined;
    sock.on('error', (e: NodeJS.ErrnoException) => {
      writeError ??= e.code ?? e.message;
    });
    const answered = new Promise<void>((r) =>
      sock.on('data', (c: Buffer) => {
        data += c.toString('latin1');
        if (data.includes('\r\n\r\n')) r();
      }),
    );
    const ended = new Promise<void>((r) => sock.on('close', () => r()));
    sock.write(
      'POST /json HTTP/1.1\r\nHost: relay\r\nContent-Type: application/json\r\nContent-Length: 100000000\r\n\r\n[',
    );
    const drip = setInterval(() => {
      if (sock.writable) sock.write(Buffer.alloc(100, 0x20));
    }, 10);
    await answered;
    clearInterval(drip);
    // As an uploading client would: it keeps sending, more than any socket buffer holds.
    const chunk = Buffer.alloc(256 * 1024, 0x20);
    for (let i = 0; i < 64 && !writeError; i++) await new Promise<void>((r) => sock.write(chunk, () => r()));
    sock.end();
    await ended;
    expect(data).toMatch(/^HTTP\/1\.1 408 /);
    expect(writeError).toBeUndefined();
  });
});
