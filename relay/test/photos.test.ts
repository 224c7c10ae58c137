// Photos (spec/openapi.yaml tag "photos"): streamed upload, size cap (413 up front and mid-stream), truncated and
// aborted uploads leave no file, only sender and receiver can download (others get the 404 of
// a nonexistent id), acknowledgement and retention delete row and file.
import { randomBytes, randomUUID } from 'node:crypto';
import { readdirSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { connect } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { sweepOnce } from '../src/jobs/retention.js';
import { startTestApp, type TestApp } from './helpers/app.js';
import { startDataApp } from './helpers/data-app.js';
import { type DataUser, makeDeviceUser, newSession } from './helpers/relay-data.js';

const CAP = 256 * 1024;
let t: TestApp;
let dataDir: string;
let photos: string;

let databaseUrl: string;
let close: (() => Promise<void>) | undefined;

beforeAll(async () => {
  const started = await startDataApp('sd-relay-photos-', {
    MAX_PHOTO_BYTES: String(CAP),
    SEND_RATE_BURST: '1000',
    MAX_PENDING_PHOTOS: '50',
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

function upload(from: DataUser, to: string, bytes: Uint8Array, contentType = 'application/octet-stream') {
  return t.api.post(`/send_photo?to=${to}`, undefined, {
    token: from.token,
    raw: bytes,
    headers: { 'content-type': contentType },
  });
}

/** Sends `chunks` with chunked transfer encoding (no Content-Length); resolves to the status. */
function uploadChunked(from: DataUser, to: string, chunks: Buffer[]): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(`${t.baseUrl}/send_photo?to=${to}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${from.token}`, 'content-type': 'application/octet-stream' },
    });
    req.on('response', (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', reject);
    const write = (i: number): void => {
      if (i === chunks.length) {
        req.end();
        return;
      }
      req.write(chunks[i], () => setImmediate(() => write(i + 1)));
    };
    write(0);
  });
}

/** The photo files once none is left (or after 1 s, for the caller's assertion to show them). */
async function noFileEventually() {
  await vi
    .waitFor(
      () => {
        if (files().length > 0) throw new Error('files left');
      },
      { timeout: 1000, interval: 20 },
    )
    .catch(() => undefined);
  return files();
}

describe('send_photo and get_photo', () => {
  it('streams a blob to disk and back to sender and receiver only', async () => {
    const a = await makeDeviceUser(t);
    const b = await makeDeviceUser(t);
    const c = await makeDeviceUser(t);
    const blob = randomBytes(200_000);
    const res = await upload(a, b.username, blob);
    expect(res.status).toBe(201);
    expect(res.body.size).toBe(blob.length);
    expect(files()).toHaveLength(1);
    expect(files()[0]).toMatch(/^[0-9a-f]{32}$/);
    for (const who of [a, b]) {
      const got = await fetch(`${t.baseUrl}/get_photo/${res.body.id}`, {
        headers: { authorization: `Bearer ${who.token}` },
      });
      expect(got.status).toBe(200);
      expect(got.headers.get('content-type')).toBe('application/octet-stream');
      expect(got.headers.get('cache-control')).toBe('no-store');
      expect(Buffer.from(await got.arrayBuffer()).equals(blob)).toBe(true);
    }
    const third = await t.api.get(`/get_photo/${res.body.id}`, { token: c.token });
    const missing = await t.api.get(`/get_photo/${randomUUID()}`, { token: c.token });
    const invalid = await t.api.get('/get_photo/not-a-uuid', { token: c.token });
    expect(third.status).toBe(404);
    expect(third.text).toBe(missing.text);
    expect(invalid.status).toBe(404);
    expect(invalid.text).toBe(missing.text);
    // Acknowledged by the receiver: row and file gone. The sender cannot acknowledge it.
    expect(
      (await t.api.post('/ack', { photo_ids: [res.body.id] }, { token: a.token })).body.photos_acked,
    ).toBe(0);
    expect(
      (await t.api.post('/ack', { photo_ids: [res.body.id, 'junk'] }, { token: b.token })).body.photos_acked,
    ).toBe(1);
    expect(files()).toEqual([]);
    expect((await t.api.get(`/get_photo/${res.body.id}`, { token: b.token })).status).toBe(404);
  });

  it('accepts exactly the cap and refuses more with 413, before reading or mid-stream, leaving no file', async () => {
    const a = await makeDeviceUser(t);
    const b = await makeDeviceUser(t);
    const exact = await upload(a, b.username, randomBytes(CAP));
    expect(exact.status).toBe(201);
    await t.api.post('/ack', { photo_ids: [exact.body.id] }, { token: b.token });
    expect(files()).toEqual([]);

    const declared = await upload(a, b.username, randomBytes(CAP + 1));
    expect(declared.status).toBe(413);
    expect(declared.body.error).toBe('payload_too_large');
    expect(await noFileEventually()).toEqual([]);

    // No Content-Length: the body is cut where it passes the cap.
    const status = await uploadChunked(a, b.username, [
      randomBytes(CAP / 2),
      randomBytes(CAP / 2),
      randomBytes(10),
    ]);
    expect(status).toBe(413);
    expect(await noFileEventually()).toEqual([]);
    const rows = await t.deps.pool.query('SELECT count(*)::int AS n FROM photos WHERE sender_id = $1', [
      a.id,
    ]);
    expect(rows.rows[0].n).toBe(0);
  });

  it('leaves no file and no row when the upload is truncated or aborted', async () => {
    const a = await makeDeviceUser(t);
    const b = await makeDeviceUser(t);
    // Content-Length promises 10,000 bytes; 5,000 arrive and the client closes.
    await new Promise<void>((resolve) => {
      const url = new URL(t.baseUrl);
      const sock = connect(Number(url.port), url.hostname, () => {
        sock.write(
          `POST /send_photo?to=${b.username} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${a.token}\r\n` +
            'Content-Type: application/octet-stream\r\nContent-Length: 10000\r\n\r\n',
        );
        sock.write(randomBytes(5000), () => setTimeout(() => sock.end(), 100));
      });
      sock.on('close', () => resolve());
      sock.on('error', () => resolve());
      sock.resume();
    });
    expect(await noFileEventually()).toEqual([]);
    // Chunked upload cut off mid-stream.
    await new Promise<void>((resolve) => {
      const req = request(`${t.baseUrl}/send_photo?to=${b.username}`, {
        method: 'POST',
        headers: { authorization: `Bearer ${a.token}`, 'content-type': 'application/octet-stream' },
      });
      req.on('error', () => resolve());
      req.on('close', () => resolve());
      req.write(randomBytes(50_000), () => setTimeout(() => req.destroy(), 100));
    });
    expect(await noFileEventually()).toEqual([]);
    const rows = await t.deps.pool.query('SELECT count(*)::int AS n FROM photos WHERE sender_id = $1', [
      a.id,
    ]);
    expect(rows.rows[0].n).toBe(0);
  });

  it('refuses bad uploads cleanly', async () => {
    const a = await makeDeviceUser(t);
    const b = await makeDeviceUser(t);
    expect((await upload(a, 'no_such_user', randomBytes(10))).status).toBe(404);
    expect((await upload(a, b.username, randomBytes(10), 'image/jpeg')).status).toBe(415);
    expect((await upload(a, b.username, new Uint8Array(0))).status).toBe(400);
    const noTo = await t.api.post('/send_photo', undefined, {
      token: a.token,
      raw: randomBytes(10),
      headers: { 'content-type': 'application/octet-stream' },
    });
    expect(noTo.status).toBe(400);
    expect(
      (await t.api.post(`/send_photo?to=${b.username}`, undefined, { raw: randomBytes(10) })).status,
    ).toBe(401);
    expect(await noFileEventually()).toEqual([]);
  });

  it('caps photos waiting for acknowledgement per sender', async () => {
    const capped = await startTestApp({
      databaseUrl,
      clock: t.clock,
      env: { DATA_DIR: dataDir, MAX_PENDING_PHOTOS: '2', SEND_RATE_BURST: '100' },
    });
    try {
      const a = await makeDeviceUser(capped);
      const b = await makeDeviceUser(capped);
      const post = () =>
        capped.api.post(`/send_photo?to=${b.username}`, undefined, {
          token: a.token,
          raw: randomBytes(100),
          headers: { 'content-type': 'application/octet-stream' },
        });
      const first = await post();
      expect((await post()).status).toBe(201);
      const third = await post();
      expect(third.status).toBe(409);
      expect(third.body.error).toBe('photo_quota');
      await capped.api.post('/ack', { photo_ids: [first.body.id] }, { token: b.token });
      expect((await post()).status).toBe(201);
      const left = await capped.deps.pool.query(
        'DELETE FROM photos WHERE sender_id = $1 RETURNING file_path',
        [a.id],
      );
      for (const x of left.rows) rmSync(join(photos, x.file_path));
    } finally {
      await capped.close();
    }
  });

  it('regression (a blocked sender could tell its photo was dropped): what the sender observes is the same blocked or not', async () => {
    const capped = await startTestApp({
      databaseUrl,
      clock: t.clock,
      env: { DATA_DIR: dataDir, MAX_PENDING_PHOTOS: '2', SEND_RATE_BURST: '100' },
    });
    try {
      /** Everything the sender of one photo can observe of it, from upload to retention. */
      const observe = async (blocked: boolean) => {
        const sender = await makeDeviceUser(capped);
        const receiver = await makeDeviceUser(capped);
        if (blocked)
          expect(
            (await capped.api.post('/blocks', { username: sender.username }, { token: receiver.token }))
              .status,
          ).toBe(201);
        const blob = randomBytes(1000);
        const post = () =>
          capped.api.post(`/send_photo?to=${receiver.username}`, undefined, {
            token: sender.token,
            raw: blob,
            headers: { 'content-type': 'application/octet-stream' },
          });
        const first = await post();
        const own = await fetch(`${capped.baseUrl}/get_photo/${first.body.id}`, {
          headers: { authorization: `Bearer ${sender.token}` },
        });
        const ownBytes = Buffer.from(await own.arrayBuffer());
        const second = await post();
        // The quota counts it: the third waits for the receiver or for retention.
        const third = await post();
        capped.clock.advance(31 * 86_400_000);
        await sweepOnce(capped.deps, new Date(capped.clock.now()));
        const fresh = await newSession(capped, sender.id, { deviceId: 1 });
        const afterRetention = await capped.api.get(`/get_photo/${first.body.id}`, { token: fresh.token });
        return {
          upload: [first.status, first.body.size, second.status],
          own: [own.status, own.headers.get('content-type'), ownBytes.equals(blob)],
          quota: [third.status, third.body.error],
          afterRetention: afterRetention.status,
        };
      };
      const open = await observe(false);
      expect(open).toEqual({
        upload: [201, 1000, 201],
        own: [200, 'application/octet-stream', true],
        quota: [409, 'photo_quota'],
        afterRetention: 404,
      });
      expect(await observe(true)).toEqual(open);
    } finally {
      await capped.close();
    }
  });

  it('deletes photos, files included, when retention expires', async () => {
    const a = await makeDeviceUser(t);
    const b = await makeDeviceUser(t);
    const res = await upload(a, b.username, randomBytes(1000));
    expect(files()).toHaveLength(1);
    t.clock.advance(31 * 86_400_000);
    const swept = await sweepOnce(t.deps, new Date(t.clock.now()));
    expect(swept.photos).toBe(1);
    expect(files()).toEqual([]);
    const fresh = await newSession(t, b.id, { deviceId: 1 });
    expect((await t.api.get(`/get_photo/${res.body.id}`, { token: fresh.token })).status).toBe(404);
  });
});
