// The Node HTTP server around the Express app, with the time limits of README "Configuration"
// (HTTP time limits) and Node's own protocol errors answered as the API's JSON errors
// (spec/openapi.yaml info.description: errors are always {"error","message"}).
// - headersTimeout: a client has HEADERS_TIMEOUT_SECONDS to finish its request headers (408).
// - requestTimeout is off: Node's total deadline would cut every slow photo upload, whatever
//   its progress. Bodies are bounded per route instead: src/http/deadline.ts (total, JSON
//   routes) and src/photos/receive.ts (idle and total, uploads).
// - clientError: Node would answer malformed requests with a bare "400 Bad Request" and no body.
// - Closing in stages: see closeInStages below.
// - maxConnections (HTTP_MAX_CONNECTIONS, README "Configuration"): the TCP connections held at
//   once, WebSockets included (an upgraded socket stays one of this server's connections). Past
//   it Node closes each new connection as soon as it is accepted, before any byte is read, and
//   emits 'drop' (Node docs, net: server.maxConnections and Event 'drop'): an idle or slow
//   client cannot take every file descriptor the process needs for PostgreSQL and photo files.
import type { EventEmitter } from 'node:events';
import {
  createServer,
  type IncomingMessage,
  type Server,
  type ServerResponse,
  STATUS_CODES,
} from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { Express } from 'express';
import type { HttpTimeouts } from '../config.js';
import type { Logger } from '../logger.js';

/** How often Node looks for requests past headersTimeout (its default, 30 s, would blur a short limit). */
const CHECK_INTERVAL_MS = 1000;

/**
 * How long a connection the relay closes keeps reading (and discarding) what its client still
 * sends: nginx's lingering_timeout, 5 s, for the same purpose.
 */
const LINGER_MS = 5_000;

/** Connections dropped at maxConnections are logged at most this often, with their number. */
const DROP_LOG_INTERVAL_MS = 60_000;

const CLIENT_ERRORS: Record<string, [number, string, string]> = {
  HPE_HEADER_OVERFLOW: [431, 'headers_too_large', 'request headers too large'],
  ERR_HTTP_REQUEST_TIMEOUT: [408, 'request_timeout', 'the request took too long to arrive'],
};
const DEFAULT_CLIENT_ERROR: [number, string, string] = [400, 'bad_request', 'malformed HTTP request'];

/** The raw HTTP/1.1 answer for a protocol error Node caught before any route ran. */
export function clientErrorAnswer(code: string | undefined): { status: number; raw: string } {
  const [status, error, message] = (code && CLIENT_ERRORS[code]) || DEFAULT_CLIENT_ERROR;
  const body = JSON.stringify({ error, message });
  const raw =
    `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\n` +
    'Content-Type: application/json; charset=utf-8\r\n' +
    `Content-Length: ${Buffer.byteLength(body)}\r\n` +
    'Cache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\nConnection: close\r\n\r\n' +
    body;
  return { status, raw };
}

/**
 * Connections being closed in stages: no request sent on them is processed (RFC 9112 §9.6). An
 * upgrade request bypasses the request handler, but ws refuses a socket that can no longer be
 * written (it is ended), so none is processed either.
 */
const closing = new WeakSet<Socket>();

/**
 * When Node closes a connection after an answer (Connection: close), it closes the socket as
 * soon as the answer is written. If the client is still sending a body the answer refused (a photo
 * over the cap, an upload whose token expired), the kernel then answers those bytes with a
 * reset, which can reach the client before it has read the answer: a browser or Caddy's proxy
 * then reports a broken connection (Caddy a 502) instead of the 413 or 401. RFC 9112 §9.6
 * ("Tear-down") describes this and its remedy, which this is: half-close (FIN after the
 * answer), keep reading and discarding until the client closes its side, at most LINGER_MS,
 * then close. Requests arriving meanwhile are never processed (the same section).
 */
function closeInStages(socket: Socket, lingerMs: number): void {
  if (closing.has(socket)) return;
  closing.add(socket);
  if (socket.writable) socket.end();
  const timer = setTimeout(() => socket.destroy(), lingerMs);
  timer.unref();
  socket.once('close', () => clearTimeout(timer));
}

/**
 * After an answer. Runs after Node's own 'finish' listener (added before 'request' is emitted),
 * so the connection is already ended if this was its last answer — whether Node ended it with
 * destroySoon (overridden below) or with end(): either way it closes in stages. A body still
 * arriving is read only to drop it, even if the route paused it; after a keep-alive answer
 * (a 404, a route that ignores bodies) no longer than the linger bound either.
 */
function afterAnswer(req: IncomingMessage, res: ServerResponse, lingerMs: number): void {
  res.once('finish', () => {
    const socket = req.socket;
    if (socket.writableEnded) closeInStages(socket, lingerMs);
    if (req.complete || req.destroyed) return;
    // A route may have stopped reading (paused, unpiped) when it refused the body.
    req.unpipe();
    req.removeAllListeners('data');
    req.resume();
    if (!socket.writableEnded) {
      const timer = setTimeout(() => {
        if (!req.complete) socket.destroy();
      }, lingerMs);
      timer.unref();
      req.once('end', () => clearTimeout(timer));
      socket.once('close', () => clearTimeout(timer));
    }
  });
}

/**
 * Warns when connections are dropped at maxConnections: the first drop at once, then at most one
 * line per interval with the number dropped in it (a flood must not become a flood of log
 * lines), and nothing while there are none. Counts only: no client address is logged.
 */
export function reportDrops(
  server: EventEmitter,
  logger: Logger,
  maxConnections: number,
  intervalMs = DROP_LOG_INTERVAL_MS,
): void {
  let dropped = 0;
  let total = 0;
  let timer: NodeJS.Timeout | undefined;
  const flush = () => {
    timer = undefined;
    if (dropped === 0) return;
    logger.warn(
      { dropped, total, maxConnections, intervalSeconds: intervalMs / 1000 },
      'connections dropped: HTTP_MAX_CONNECTIONS reached',
    );
    dropped = 0;
    timer = setTimeout(flush, intervalMs);
    timer.unref();
  };
  server.on('drop', () => {
    dropped++;
    total++;
    if (!timer) flush();
  });
  server.on('close', () => clearTimeout(timer));
}

export interface RelayServerOptions {
  /** TCP connections held at once, WebSockets included (Config.httpMaxConnections); unset: no cap. */
  maxConnections?: number;
  /** How long a connection closed in stages keeps reading (tests shorten it). */
  lingerMs?: number;
}

export function createRelayServer(
  app: Express,
  timeouts: HttpTimeouts,
  logger: Logger,
  { maxConnections, lingerMs = LINGER_MS }: RelayServerOptions = {},
): Server {
  const server = createServer(
    {
      headersTimeout: timeouts.headersMs,
      requestTimeout: 0,
      connectionsCheckingInterval: Math.min(CHECK_INTERVAL_MS, timeouts.headersMs),
    },
    (req, res) => {
      // A request sent after the answer that said Connection: close (RFC 9112 §9.6).
      if (closing.has(req.socket)) {
        req.socket.destroy();
        return;
      }
      afterAnswer(req, res, lingerMs);
      app(req, res);
    },
  );
  if (maxConnections !== undefined) {
    server.maxConnections = maxConnections;
    reportDrops(server, logger, maxConnections);
  }
  // Node's HTTP server closes a connection after its last answer with socket.destroySoon().
  server.on('connection', (socket: Socket) => {
    socket.destroySoon = () => closeInStages(socket, lingerMs);
  });
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Duplex) => {
    // A response already under way (or a socket gone) cannot take another answer.
    const inFlight = (socket as Duplex & { _httpMessage?: { headersSent?: boolean } })._httpMessage;
    if (err.code === 'ECONNRESET' || !socket.writable || inFlight?.headersSent) {
      socket.destroy();
      return;
    }
    const { status, raw } = clientErrorAnswer(err.code);
    // The error code only: err.rawPacket holds the client's bytes (maybe a token).
    logger.info({ status, code: err.code }, 'malformed request refused');
    socket.once('finish', () => socket.destroy());
    socket.end(raw);
  });
  return server;
}
