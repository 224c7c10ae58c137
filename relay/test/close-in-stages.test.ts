// How the relay's HTTP server closes a connection after an answer that says Connection: close
// (src/http/node-server.ts, RFC 9112 §9.6): half-close, read and discard what the client still
// sends until it closes or the linger bound passes, and process no request sent meanwhile.
// A real server on a port of its own, driven over raw sockets. The relay's own routes are
// exercised the same way in faults.test.ts ("an answer given before the body was read").
import type { AddressInfo } from 'node:net';
import { connect, type Socket } from 'node:net';
import express from 'express';
import { afterEach, describe, expect, it } from 'vitest';
import type { HttpTimeouts } from '../src/config.js';
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

/** A server whose POST /refuse answers 413 with Connection: close without reading the body. */
async function start(lingerMs: number) {
  const served: string[] = [];
  const app = express();
  app.post('/refuse', (_req, res) => {
    served.push('refuse');
    res.set('Connection', 'close').status(413).json({ error: 'payload_too_large', message: 'no' });
  });
  app.get('/next', (_req, res) => {
    served.push('next');
    res.json({ ok: true });
  });
  const server = createRelayServer(app, timeouts, createLogger('silent'), lingerMs);
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
});
