// Regression tests for the reliability findings against the relay itself (README "Reliability";
// each test is named after its finding): aborted photo uploads leaking files and descriptors,
// the photo quota race, an oversized Content-Length refused from the header, an answer given
// before the body was read reaching a client still sending it, Node's own 400/408/431
// answers as JSON errors, and uploads bounded by an idle timeout instead of a total one.
import { randomBytes } from 'node:crypto';
import { readdirSync, readlinkSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { startTestApp, type TestApp } from './helpers/app.js';
import { startDataApp } from './helpers/data-app.js';
import { type DataUser, makeDeviceUser, WsClient } from './helpers/relay-data.js';

const CAP = 64 * 1024;
let t: TestApp;
let dataDir: string;
let photos: string;

let databaseUrl: string;
let close: (() => Promise<void>) | undefined;

beforeAll(async () => {
  const started = await startDataApp('sd-relay-faults-', {
    MAX_PHOTO_BYTES: String(CAP),
    SEND_RATE_BURST: '1000',
    MAX_PENDING_PHOTOS: '1000',
    UPLOAD_IDLE_TIMEOUT_SECONDS: '1',
    REQUEST_TIMEOUT_SECONDS: '1',
    HEADERS_TIMEOUT_SECONDS: '1',
  });
  ({ app: t, dataDir, databaseUrl, close } = started);
  photos = join(dataDir, 'photos');
});
afterAll(async () => {
  await close?.();
});

const files = () => {
  try {
    return readdirSync(photos).sort();
  } catch {
    return [];
  }
};

/** This process's open descriptors (the relay app runs in it), and those inside the photo store. */
function descriptors(): { total: number; photo: number } {
  let total = 0;
  let photo = 0;
  for (const fd of readdirSync('/proc/self/fd')) {
    let target: string;
    try {
      target = readlinkSync(`/proc/self/fd/${fd}`);
    } catch {
      continue; // closed meanwhile (e.g. the descriptor readdir itself used)
    }
    total++;
    if (target.startsWith(photos)) photo++;
  }
  return { total, photo };
}

interface RawAnswer {
  status: number;
  head: string;
  body: string;
}

/** Parses the first HTTP answer out of `data` (Content-Length framed), or undefined if incomplete. */
function parseAnswer(data: string): RawAnswer | undefined {
  const end = data.indexOf('\r\n\r\n');
  if (end < 0) return undefined;
  const head = data.slice(0, end);
  const length = Number(/\r\ncontent-length: *(\d+)/i.exec(head)?.[1] ?? 0);
  const body = data.slice(end + 4, end + 4 + length);
  if (body.length < length) return undefined;
  return { status: Number(head.split(' ')[1]), head, body };
}

/** Opens a raw socket to the app, writes `head` (and `body`), resolves with the first answer. */
function rawExchange(head: string, body?: Buffer): Promise<RawAnswer & { closed: Promise<void> }> {
  return new Promise((resolve, reject) => {
    const url = new URL(t.baseUrl);
    const sock = connect(Number(url.port), url.hostname);
    const closed = new Promise<void>((r) => sock.once('close', () => r()));
    let data = '';
    sock.on('data', (chunk) => {
      data += chunk.toString('latin1');
      const answer = parseAnswer(data);
      if (answer) resolve({ ...answer, closed });
    });
    sock.on('error', () => undefined);
    sock.on('close', () => reject(new Error(`closed without a complete answer: ${JSON.stringify(data)}`)));
    sock.write(head);
    if (body) sock.write(body);
  });
}

const uploadHead = (u: DataUser, to: string, contentLength: number | 'chunked') =>
  `POST /send_photo?to=${to} HTTP/1.1\r\nHost: relay\r\nAuthorization: Bearer ${u.token}\r\n` +
  'Content-Type: application/octet-stream\r\n' +
  (contentLength === 'chunked' ? 'Transfer-Encoding: chunked\r\n' : `Content-Length: ${contentLength}\r\n`) +
  '\r\n';

/** Writes `head` + `body` on a raw socket and cuts it right away (no wait for any answer). */
function abortAfter(app: TestApp, head: string, body: Buffer, delayMs: number): Promise<void> {
  return new Promise((resolve) => {
    const url = new URL(app.baseUrl);
    const sock: Socket = connect(Number(url.port), url.hostname, () => {
      sock.write(head);
      if (body.length) sock.write(body);
      if (delayMs === 0) sock.destroy();
      else setTimeout(() => sock.destroy(), delayMs);
    });
    sock.on('error', () => undefined);
    sock.on('close', () => resolve());
    sock.resume();
  });
}

async function pendingOf(userId: string): Promise<number> {
  const r = await t.deps.pool.query('SELECT count(*)::int AS n FROM photos WHERE sender_id = $1', [userId]);
  return r.rows[0].n;
}

describe('aborted photo uploads (leaked .part files and descriptors)', () => {
  it('aborted-upload-leaks-part-file-and-fd: cut at every stage, nothing stays open or on disk', async () => {
    // Default upload timeouts: the idle timeout (30 s) must not be what cleans up here.
    const app = await startTestApp({
      databaseUrl,
      clock: t.clock,
      env: { DATA_DIR: dataDir, MAX_PHOTO_BYTES: String(CAP), SEND_RATE_BURST: '1000' },
    });
    try {
      const a = await makeDeviceUser(app);
      const b = await makeDeviceUser(app);
      // Warm the database pool so its connections are part of the baseline.
      await Promise.all(Array.from({ length: 8 }, () => app.deps.pool.query('SELECT pg_sleep(0.01)')));
      const before = descriptors();
      expect(before.photo).toBe(0);
      const cuts = [
        // Cut while the route is still authenticating and checking the quota (before the body is read).
        abortAfter(app, uploadHead(a, b.username, 10_000), Buffer.alloc(0), 0),
        abortAfter(app, uploadHead(a, b.username, 10_000), randomBytes(100), 0),
        abortAfter(app, uploadHead(a, b.username, 'chunked'), Buffer.from('10\r\n0123456789abcdef\r\n'), 0),
        // Cut mid-body, after the file was opened.
        abortAfter(app, uploadHead(a, b.username, 10_000), randomBytes(5000), 50),
        abortAfter(app, uploadHead(a, b.username, 'chunked'), Buffer.from('1000\r\n'), 50),
      ];
      for (let round = 0; round < 3; round++) await Promise.all(cuts);
      for (let i = 0; i < 10; i++)
        await abortAfter(app, uploadHead(a, b.username, 10_000), randomBytes(i * 500), 0);
      await vi.waitFor(
        () => {
          expect(files().filter((f) => f.endsWith('.part'))).toEqual([]);
          expect(descriptors().photo).toBe(0);
          expect(descriptors().total).toBeLessThanOrEqual(before.total);
        },
        { timeout: 10_000, interval: 50 },
      );
      expect(files()).toEqual([]);
      expect(await pendingOf(a.id)).toBe(0);
    } finally {
      await app.close();
    }
  });
});

describe('aborted resumable uploads (tus PATCH: descriptors)', () => {
  it('aborted-upload-leaks-part-file-and-fd: PATCHes cut at every stage close their file, keep their bytes', async () => {
    const uploads = join(dataDir, 'photo-uploads');
    const app = await startTestApp({
      databaseUrl,
      clock: t.clock,
      env: { DATA_DIR: dataDir, MAX_PHOTO_BYTES: String(CAP), SEND_RATE_BURST: '1000' },
    });
    const inUploads = () =>
      readdirSync('/proc/self/fd').filter((fd) => {
        try {
          return readlinkSync(`/proc/self/fd/${fd}`).startsWith(uploads);
        } catch {
          return false;
        }
      }).length;
    try {
      const a = await makeDeviceUser(app);
      const b = await makeDeviceUser(app);
      await Promise.all(Array.from({ length: 8 }, () => app.deps.pool.query('SELECT pg_sleep(0.01)')));
      const before = descriptors();
      const paths: string[] = [];
      for (let i = 0; i < 5; i++) {
        const res = await app.api.post(`/uploads?to=${b.username}`, undefined, {
          token: a.token,
          headers: { 'tus-resumable': '1.0.0', 'upload-length': '10000' },
        });
        expect(res.status).toBe(201);
        paths.push(`/${res.headers.get('location')}`);
      }
      const patchHead = (path: string, length: number | 'chunked') =>
        `PATCH ${path} HTTP/1.1\r\nHost: relay\r\nAuthorization: Bearer ${a.token}\r\nTus-Resumable: 1.0.0\r\n` +
        'Upload-Offset: 0\r\nContent-Type: application/offset+octet-stream\r\n' +
        (length === 'chunked' ? 'Transfer-Encoding: chunked\r\n' : `Content-Length: ${length}\r\n`) +
        '\r\n';
      const [p0, p1, p2, p3, p4] = paths as [string, string, string, string, string];
      await Promise.all([
        // Cut while the route is still authenticating (before the body is read).
        abortAfter(app, patchHead(p0, 10_000), Buffer.alloc(0), 0),
        abortAfter(app, patchHead(p1, 10_000), randomBytes(100), 0),
        abortAfter(app, patchHead(p2, 'chunked'), Buffer.from('10\r\n0123456789abcdef\r\n'), 0),
        // Cut mid-body, after the file was opened.
        abortAfter(app, patchHead(p3, 10_000), randomBytes(5000), 50),
        abortAfter(app, patchHead(p4, 'chunked'), Buffer.from('1000\r\n'), 50),
      ]);
      await vi.waitFor(
        () => {
          expect(inUploads()).toBe(0);
          expect(descriptors().total).toBeLessThanOrEqual(before.total);
        },
        { timeout: 10_000, interval: 50 },
      );
      // Each upload is still there to resume, at the offset of the bytes that reached its file.
      for (const path of paths) {
        const head = await app.api.request('HEAD', path, undefined, {
          token: a.token,
          headers: { 'tus-resumable': '1.0.0' },
          spec: false,
        });
        expect(head.status).toBe(200);
        expect(Number(head.headers.get('upload-offset'))).toBeLessThanOrEqual(5000);
      }
    } finally {
      await app.close();
    }
  });
});

describe('photo quota (MAX_PENDING_PHOTOS checked with the insert)', () => {
  it('photo-quota-race: 15 parallel uploads with 5 free slots store exactly 5', async () => {
    const capped = await startTestApp({
      databaseUrl,
      clock: t.clock,
      env: { DATA_DIR: dataDir, MAX_PENDING_PHOTOS: '20', SEND_RATE_BURST: '100' },
    });
    try {
      const a = await makeDeviceUser(capped);
      const b = await makeDeviceUser(capped);
      for (let i = 0; i < 15; i++)
        await capped.deps.pool.query(
          'INSERT INTO photos (sender_id, receiver_id, file_path, size) VALUES ($1, $2, $3, 1)',
          [a.id, b.id, randomBytes(16).toString('hex')],
        );
      const statuses = await Promise.all(
        Array.from({ length: 15 }, async () => {
          const res = await capped.api.post(`/send_photo?to=${b.username}`, undefined, {
            token: a.token,
            raw: randomBytes(2000),
            headers: { 'content-type': 'application/octet-stream' },
          });
          if (res.status === 409) expect(res.body.error).toBe('photo_quota');
          return res.status;
        }),
      );
      expect(statuses.filter((s) => s === 201)).toHaveLength(5);
      expect(statuses.filter((s) => s === 409)).toHaveLength(10);
      expect(await pendingOf(a.id)).toBe(20);
      // Only the five stored photos have files; refused uploads left nothing behind.
      expect(files()).toHaveLength(5);
      const left = await capped.deps.pool.query(
        'DELETE FROM photos WHERE sender_id = $1 RETURNING file_path',
        [a.id],
      );
      for (const x of left.rows) rmSync(join(photos, x.file_path), { force: true });
    } finally {
      await capped.close();
    }
  });
});

describe('oversized Content-Length', () => {
  it('content-length-over-cap-read-before-refused: 413 from the header, no body byte sent', async () => {
    const a = await makeDeviceUser(t);
    const b = await makeDeviceUser(t);
    // Only the head is sent: an answer proves the relay decided from the header alone.
    const res = await rawExchange(uploadHead(a, b.username, CAP + 1));
    expect(res.status).toBe(413);
    expect(JSON.parse(res.body)).toEqual({ error: 'payload_too_large', message: expect.any(String) });
    expect(res.head).toMatch(/\r\nconnection: close/i);
    await res.closed; // and the connection is closed rather than drained
    expect(files()).toEqual([]);
  });
});

describe('an answer given before the body was read (RFC 9112 §9.6)', () => {
  /**
   * Writes `head` and then `bodyBytes` of body (chunked framing if `chunked`) without reading
   * anything, as an HTTP client or Caddy's proxy does while it uploads; only once every byte is
   * written, or a write failed, does it read. Resolves to the answer it then finds, whether a
   * write failed (the relay reset the connection), and whether the relay's side ended cleanly.
   */
  function sendAllThenRead(head: string, bodyBytes: number, chunked = false) {
    return new Promise<{ writeError?: string; answer?: RawAnswer; ended: boolean }>((resolve) => {
      const url = new URL(t.baseUrl);
      const sock = connect(Number(url.port), url.hostname);
      sock.pause();
      let writeError: string | undefined;
      let data = '';
      let ended = false;
      sock.on('error', (err: NodeJS.ErrnoException) => {
        writeError ??= err.code ?? err.message;
      });
      sock.on('data', (c: Buffer) => {
        data += c.toString('latin1');
      });
      sock.on('end', () => {
        ended = true;
      });
      sock.on('close', () => resolve({ writeError, answer: parseAnswer(data), ended }));
      const chunk = Buffer.alloc(256 * 1024);
      const framed = chunked
        ? Buffer.concat([Buffer.from(`${chunk.length.toString(16)}\r\n`), chunk, Buffer.from('\r\n')])
        : chunk;
      let left = bodyBytes;
      const next = (err?: Error | null) => {
        if (err || writeError || left <= 0) {
          sock.resume();
          sock.end();
          return;
        }
        left -= chunk.length;
        sock.write(framed, next);
      };
      sock.write(head, next);
    });
  }

  // 32 MiB: far more than the socket buffers hold, so most of it is sent after the answer.
  const BODY = 32 * 1024 * 1024;

  it('early-answer-reset: a client still sending when refused by Content-Length reads its 413, not a reset', async () => {
    const a = await makeDeviceUser(t);
    const b = await makeDeviceUser(t);
    const res = await sendAllThenRead(uploadHead(a, b.username, BODY), BODY);
    expect(res.writeError).toBeUndefined();
    expect(res.answer?.status).toBe(413);
    expect(res.answer?.head).toMatch(/\r\nconnection: close/i);
    expect(JSON.parse(res.answer?.body ?? '')).toEqual({
      error: 'payload_too_large',
      message: expect.any(String),
    });
    expect(res.ended).toBe(true); // the relay's side closed with a FIN after the answer
    expect(files()).toEqual([]);
  });

  it('early-answer-reset: an upload refused mid-body (chunked, over the cap) reads its 413, not a reset', async () => {
    const a = await makeDeviceUser(t);
    const b = await makeDeviceUser(t);
    const res = await sendAllThenRead(uploadHead(a, b.username, 'chunked'), BODY, true);
    expect(res.writeError).toBeUndefined();
    expect(res.answer?.status).toBe(413);
    expect(res.ended).toBe(true);
    expect(files()).toEqual([]);
  });

  it('early-answer-reset: an upload refused for its token (401) before its body is read reads the 401, not a reset', async () => {
    const b = await makeDeviceUser(t);
    const stale = { ...(await makeDeviceUser(t)), token: 'not-a-token' };
    // Chunked, as a length over the cap would be refused (413) before the token is read.
    const res = await sendAllThenRead(uploadHead(stale, b.username, 'chunked'), BODY, true);
    expect(res.writeError).toBeUndefined();
    expect(res.answer?.status).toBe(401);
  });
});

describe("Node's own errors as JSON (clientError)", () => {
  it('node-bare-400-not-json: a malformed request line gets a JSON 400', async () => {
    const res = await rawExchange('GARBAGE\r\n\r\n');
    expect(res.status).toBe(400);
    expect(res.head).toMatch(/\r\ncontent-type: application\/json/i);
    expect(JSON.parse(res.body)).toEqual({ error: 'bad_request', message: expect.any(String) });
  });

  it('node-bare-431-not-json: headers over the size limit get a JSON 431', async () => {
    const res = await rawExchange(
      `GET /health HTTP/1.1\r\nHost: relay\r\nX-Big: ${'a'.repeat(70_000)}\r\n\r\n`,
    );
    expect(res.status).toBe(431);
    expect(JSON.parse(res.body).error).toBe('headers_too_large');
  });

  it('node-bare-408-not-json: headers that never finish get a JSON 408', async () => {
    const res = await rawExchange('GET /health HTTP/1.1\r\nHost: relay\r\nX-Slow: 1\r\n');
    expect(res.status).toBe(408);
    expect(JSON.parse(res.body).error).toBe('request_timeout');
    await res.closed;
  });

  it('request-body-never-arrives: a JSON route answers 408 when its body stalls', async () => {
    const res = await rawExchange(
      'POST /login HTTP/1.1\r\nHost: relay\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"user',
    );
    expect(res.status).toBe(408);
    expect(JSON.parse(res.body).error).toBe('request_timeout');
    await res.closed;
  });
});

describe('upload timeouts (idle, not total)', () => {
  it('upload-total-timeout-kills-slow-uploads: a slow steady upload outlives the total request timeout', async () => {
    const a = await makeDeviceUser(t);
    const b = await makeDeviceUser(t);
    // 12 pieces 250 ms apart: ~3 s in all, three times REQUEST_TIMEOUT_SECONDS, never idle 1 s.
    const pieces = Array.from({ length: 12 }, () => randomBytes(1000));
    const status = await new Promise<number>((resolve, reject) => {
      const req = request(`${t.baseUrl}/send_photo?to=${b.username}`, {
        method: 'POST',
        headers: {
          authorization: `Bearer ${a.token}`,
          'content-type': 'application/octet-stream',
          'content-length': String(pieces.length * 1000),
        },
      });
      req.on('response', (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on('error', reject);
      let i = 0;
      const next = () => {
        const piece = pieces[i++];
        if (!piece) return;
        req.write(piece);
        if (i === pieces.length) req.end();
        else setTimeout(next, 250);
      };
      next();
    });
    expect(status).toBe(201);
    await t.deps.pool.query('DELETE FROM photos WHERE sender_id = $1', [a.id]);
    for (const f of files()) rmSync(join(photos, f), { force: true });
  });

  it('upload-stalls-forever: an upload idle past UPLOAD_IDLE_TIMEOUT_SECONDS gets a JSON 408, no file left', async () => {
    const a = await makeDeviceUser(t);
    const b = await makeDeviceUser(t);
    const res = await rawExchange(uploadHead(a, b.username, 10_000), randomBytes(3000));
    expect(res.status).toBe(408);
    expect(JSON.parse(res.body).error).toBe('request_timeout');
    await res.closed;
    await vi.waitFor(() => expect(files()).toEqual([]), { timeout: 5000, interval: 50 });
    expect(await pendingOf(a.id)).toBe(0);
  });
});

describe('WebSocket auth with a tampered token', () => {
  const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
  /** The token with one bit of one signature character flipped (attempt `i` picks which). */
  function flipped(token: string, i: number): string {
    const sigStart = token.lastIndexOf('.') + 1;
    // Mostly the last three characters, where base64url packs the signature's final bits (and
    // the last character's unused low bits), then spread over the rest of the signature.
    const pos = i < 18 ? token.length - 1 - (i % 3) : sigStart + ((i * 7) % (token.length - 3 - sigStart));
    const bit = i < 18 ? Math.floor(i / 3) : i % 6;
    const c = token[pos] as string;
    const swapped = ALPHABET[ALPHABET.indexOf(c) ^ (1 << bit)] as string;
    return token.slice(0, pos) + swapped + token.slice(pos + 1);
  }

  it('ws-flipped-signature-not-4401: 50 tampered tokens, every socket closed with 4401', async () => {
    const u = await makeDeviceUser(t);
    const codes: number[] = [];
    const seen = new Set<string>();
    for (let i = 0; i < 50; i++) {
      const token = flipped(u.token, i);
      expect(token).not.toBe(u.token);
      seen.add(token);
      const c = await WsClient.open(t.baseUrl);
      c.send({ type: 'auth', token });
      codes.push(await c.closed());
    }
    expect(seen.size).toBeGreaterThanOrEqual(45);
    expect(codes).toEqual(Array(50).fill(4401));
    // The same tokens are refused over HTTP.
    for (let i = 0; i < 6; i++)
      expect((await t.api.get('/me', { token: flipped(u.token, i * 3), spec: false })).status).toBe(401);
    // And the untouched token still works on both.
    const ok = await WsClient.connect(t.baseUrl, u.token);
    ok.close();
  });
});

describe('access token maximum age', () => {
  async function forge(u: DataUser, iat: number, exp: number): Promise<string> {
    const { SignJWT } = await import('jose');
    return new SignJWT({ sid: u.sessionId })
      .setProtectedHeader({ alg: 'HS256', typ: 'at+jwt' })
      .setSubject(u.id)
      .setIssuer(t.deps.config.jwt.issuer)
      .setAudience(t.deps.config.jwt.audience)
      .setIssuedAt(iat)
      .setExpirationTime(exp)
      .sign(t.deps.config.secrets.jwtKey);
  }

  it('token-no-max-age: validly signed tokens past the maximum age are refused whatever exp says', async () => {
    const u = await makeDeviceUser(t);
    const now = Math.floor(t.clock.now() / 1000);
    const ttl = t.deps.config.jwt.accessTtlSeconds;
    const tenYears = 10 * 365 * 86_400;
    const cases: [string, number, number, string][] = [
      ['issued now, 10-year exp', now, now + tenYears, 'invalid_token'],
      ['issued 2 days ago, 10-year exp', now - 2 * 86_400, now + tenYears, 'token_expired'],
      ['issued a TTL + 1 s ago, exp in the future', now - ttl - 1, now + 60, 'token_expired'],
      ['issued in the future', now + 3600, now + 3600 + ttl, 'invalid_token'],
    ];
    for (const [name, iat, exp, error] of cases) {
      const token = await forge(u, iat, exp);
      const me = await t.api.get('/me', { token });
      expect(me.status, name).toBe(401);
      expect(me.body.error, name).toBe(error);
      const c = await WsClient.open(t.baseUrl);
      c.send({ type: 'auth', token });
      expect(await c.closed(), name).toBe(4401);
    }
    // A token exactly as the relay issues them works until its age passes the TTL, then not.
    const fresh = await forge(u, now, now + ttl);
    expect((await t.api.get('/me', { token: fresh })).status).toBe(200);
    t.clock.advance((ttl + 1) * 1000);
    expect((await t.api.get('/me', { token: fresh })).status).toBe(401);
  });
});

describe('forwarded client address', () => {
  it('forwarded-for-forgery: text that is not an IP never becomes a rate-limit key', async () => {
    const forged = '6.6.6.6 forged text';
    const res = await t.api.post(
      '/register',
      { username: `xff_${randomBytes(3).toString('hex')}` },
      { headers: { 'x-forwarded-for': forged } },
    );
    expect(res.status).toBe(201);
    const { rows } = await t.deps.pool.query('SELECT ip FROM registration_rate');
    expect(rows.map((r) => r.ip)).not.toContain(forged);
    expect(rows.map((r) => r.ip)).toContain('127.0.0.1');
  });
});
