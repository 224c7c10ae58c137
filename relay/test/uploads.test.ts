// Resumable photo uploads (spec/openapi.yaml /uploads, tus 1.0.0): a cut upload resumes from the
// relay's offset and the stored photo is byte-identical; a wrong offset is 409; someone else's
// upload is a 404; the size cap is refused from the header; expired uploads are swept with their
// files; creations at the quota edge never exceed MAX_PENDING_PHOTOS; an aborted or stalled PATCH
// leaves no descriptor open.
import { randomBytes } from 'node:crypto';
import { readdirSync, readlinkSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { sweepUploads } from '../src/jobs/upload-expiry.js';
import { startTestApp, type TestApp } from './helpers/app.js';
import { startDataApp } from './helpers/data-app.js';
import { type DataUser, makeDeviceUser } from './helpers/relay-data.js';

const CAP = 256 * 1024;
const TUS = { 'tus-resumable': '1.0.0' };
let t: TestApp;
let dataDir: string;
let uploads: string;

let databaseUrl: string;
let close: (() => Promise<void>) | undefined;

beforeAll(async () => {
  const started = await startDataApp('sd-relay-uploads-', {
    MAX_PHOTO_BYTES: String(CAP),
    SEND_RATE_BURST: '1000',
    MAX_PENDING_PHOTOS: '50',
    UPLOAD_IDLE_TIMEOUT_SECONDS: '1',
    PHOTO_UPLOAD_EXPIRY_SECONDS: '3600',
  });
  ({ app: t, dataDir, databaseUrl, close } = started);
  uploads = join(dataDir, 'photo-uploads');
});
afterAll(async () => {
  await close?.();
});

const list = (dir: string) => {
  try {
    return readdirSync(dir).sort();
  } catch {
    return [];
  }
};

/** Open descriptors of this process (the relay runs in it) that point into the upload store. */
function uploadFds(): number {
  let n = 0;
  for (const fd of readdirSync('/proc/self/fd')) {
    try {
      if (readlinkSync(`/proc/self/fd/${fd}`).startsWith(uploads)) n++;
    } catch {
      // closed meanwhile
    }
  }
  return n;
}

async function create(from: DataUser, to: string, length: number) {
  const res = await t.api.post(`/uploads?to=${to}`, undefined, {
    token: from.token,
    headers: { ...TUS, 'upload-length': String(length) },
  });
  const location = res.headers.get('location');
  return { res, path: location ? `/${location}` : '', id: location?.split('/')[1] ?? '' };
}

// A HEAD answer has no body to hold to the spec's JSON error schema.
const head = (u: DataUser, path: string) =>
  t.api.request('HEAD', path, undefined, { token: u.token, headers: TUS, spec: false });

const patch = (u: DataUser, path: string, offset: number, bytes: Uint8Array) =>
  t.api.request('PATCH', path, undefined, {
    token: u.token,
    raw: bytes,
    headers: { ...TUS, 'upload-offset': String(offset), 'content-type': 'application/offset+octet-stream' },
  });

/** A PATCH on a raw socket that announces `total` bytes, sends `sent`, then cuts the connection. */
function cutPatch(u: DataUser, path: string, offset: number, total: number, sent: Buffer): Promise<void> {
  return new Promise((resolve) => {
    const url = new URL(t.baseUrl);
    const sock = connect(Number(url.port), url.hostname, () => {
      sock.write(
        `PATCH ${path} HTTP/1.1\r\nHost: relay\r\nAuthorization: Bearer ${u.token}\r\nTus-Resumable: 1.0.0\r\n` +
          `Upload-Offset: ${offset}\r\nContent-Type: application/offset+octet-stream\r\nContent-Length: ${total}\r\n\r\n`,
      );
      sock.write(sent, () => setTimeout(() => sock.destroy(), 100));
    });
    sock.on('error', () => undefined);
    sock.on('close', () => resolve());
    sock.resume();
  });
}

describe('resumable photo uploads (tus)', () => {
  it('a cut upload resumes from the offset HEAD reports and the photo is byte-identical', async () => {
    const a = await makeDeviceUser(t);
    const b = await makeDeviceUser(t);
    const photo = randomBytes(200_000);
    const { res, path, id } = await create(a, b.username, photo.length);
    expect(res.status).toBe(201);
    expect(res.headers.get('upload-expires')).toBeTruthy();
    expect(path).toMatch(/^\/uploads\/[0-9a-f-]{36}$/);
    expect((await head(a, path)).headers.get('upload-offset')).toBe('0');

    await cutPatch(a, path, 0, photo.length, photo.subarray(0, 100_000));
    let offset = 0;
    await vi.waitFor(
      async () => {
        const h = await head(a, path);
        expect(h.status).toBe(200);
        expect(uploadFds()).toBe(0); // the aborted PATCH closed its file
        offset = Number(h.headers.get('upload-offset'));
        expect(offset).toBeGreaterThan(0);
      },
      { timeout: 10_000, interval: 100 },
    );
    expect(offset).toBeLessThanOrEqual(100_000);
    expect((await head(a, path)).headers.get('upload-length')).toBe(String(photo.length));

    const rest = await patch(a, path, offset, photo.subarray(offset));
    expect(rest.status).toBe(204);
    expect(rest.headers.get('upload-offset')).toBe(String(photo.length));

    const got = await fetch(`${t.baseUrl}/get_photo/${id}`, {
      headers: { authorization: `Bearer ${b.token}` },
    });
    expect(got.status).toBe(200);
    expect(Buffer.from(await got.arrayBuffer()).equals(photo)).toBe(true);
    // Complete: no longer an upload, nothing left in the upload store.
    expect((await head(a, path)).status).toBe(404);
    expect(list(uploads).filter((f) => f.startsWith(id))).toEqual([]);
    const left = await t.deps.pool.query('SELECT 1 FROM photo_uploads WHERE id = $1', [id]);
    expect(left.rowCount).toBe(0);
  });

  it('regression (a blocked sender could tell its upload was dropped): a finished upload is the same photo blocked or not', async () => {
    /** What the sender of one uploaded photo can observe of it, and whether the quota counts it. */
    const observe = async (blocked: boolean) => {
      const sender = await makeDeviceUser(t);
      const receiver = await makeDeviceUser(t);
      if (blocked)
        expect(
          (await t.api.post('/blocks', { username: sender.username }, { token: receiver.token })).status,
        ).toBe(201);
      const photo = randomBytes(1000);
      const { res, path, id } = await create(sender, receiver.username, photo.length);
      const done = await patch(sender, path, 0, photo);
      const own = await fetch(`${t.baseUrl}/get_photo/${id}`, {
        headers: { authorization: `Bearer ${sender.token}` },
      });
      const ownBytes = Buffer.from(await own.arrayBuffer());
      const counted = await t.deps.pool.query('SELECT 1 FROM photos WHERE sender_id = $1', [sender.id]);
      return {
        upload: [res.status, done.status, done.headers.get('upload-offset')],
        own: [own.status, ownBytes.equals(photo)],
        counted: counted.rowCount,
        left: list(uploads).filter((f) => f.startsWith(id)),
      };
    };
    const open = await observe(false);
    expect(open).toEqual({ upload: [201, 204, '1000'], own: [200, true], counted: 1, left: [] });
    expect(await observe(true)).toEqual(open);
  });

  it('the whole photo in the creation (tus creation-with-upload, advertised) answers 201 naming the photo', async () => {
    // It was stored, but the answer was a 404: the upload's files had become the photo before
    // @tus/server read the upload back for Upload-Expires. The client, told it failed, kept
    // trying, and each stored photo held a MAX_PENDING_PHOTOS slot until retention.
    const a = await makeDeviceUser(t);
    const b = await makeDeviceUser(t);
    const photo = randomBytes(1000);
    const res = await t.api.post(`/uploads?to=${b.username}`, undefined, {
      token: a.token,
      raw: photo,
      headers: {
        ...TUS,
        'upload-length': String(photo.length),
        'content-type': 'application/offset+octet-stream',
      },
    });
    const stored = await t.deps.pool.query<{ id: string }>('SELECT id FROM photos WHERE sender_id = $1', [
      a.id,
    ]);
    expect(stored.rowCount).toBe(1);
    expect(res.status, res.text).toBe(201);
    const id = stored.rows[0]?.id as string;
    expect(res.headers.get('location')).toBe(`uploads/${id}`);
    expect(res.headers.get('upload-offset')).toBe(String(photo.length));
    const got = await fetch(`${t.baseUrl}/get_photo/${id}`, {
      headers: { authorization: `Bearer ${b.token}` },
    });
    expect(Buffer.from(await got.arrayBuffer()).equals(photo)).toBe(true);
    expect(list(uploads).filter((f) => f.startsWith(id))).toEqual([]);
  });

  it('a wrong offset is 409 and writes nothing', async () => {
    const a = await makeDeviceUser(t);
    const b = await makeDeviceUser(t);
    const { path } = await create(a, b.username, 1000);
    expect((await patch(a, path, 0, randomBytes(400))).status).toBe(204);
    for (const bad of [0, 399, 401, 999]) {
      const res = await patch(a, path, bad, randomBytes(10));
      expect(res.status).toBe(409);
      expect(res.body).toEqual({ error: 'offset_conflict', message: expect.any(String) });
    }
    expect((await head(a, path)).headers.get('upload-offset')).toBe('400');
  });

  it("someone else's upload is the 404 of an id that does not exist", async () => {
    const a = await makeDeviceUser(t);
    const b = await makeDeviceUser(t);
    const eve = await makeDeviceUser(t);
    const { path } = await create(a, b.username, 1000);
    const unknown = '/uploads/00000000-0000-4000-8000-000000000000';
    for (const who of [eve, b]) {
      for (const p of [path, unknown]) {
        expect((await head(who, p)).status).toBe(404);
        const w = await patch(who, p, 0, randomBytes(10));
        expect(w.status).toBe(404);
        expect(w.body).toEqual({ error: 'not_found', message: 'no such upload' });
        expect((await t.api.delete(p, { token: who.token, headers: TUS })).status).toBe(404);
      }
    }
    expect((await head(a, path)).headers.get('upload-offset')).toBe('0');
    expect((await t.api.request('HEAD', path, undefined, { headers: TUS, spec: false })).status).toBe(401);
    // The uploader can terminate it: files and reservation go.
    expect((await t.api.delete(path, { token: a.token, headers: TUS })).status).toBe(204);
    expect((await head(a, path)).status).toBe(404);
    const row = await t.deps.pool.query('SELECT 1 FROM photo_uploads WHERE sender_id = $1', [a.id]);
    expect(row.rowCount).toBe(0);
    expect(list(uploads).filter((f) => f.startsWith(path.split('/')[2] ?? '-'))).toEqual([]);
  });

  it('refuses bad creations as JSON errors, the cap from Upload-Length before any body', async () => {
    const a = await makeDeviceUser(t);
    const b = await makeDeviceUser(t);
    const over = await create(a, b.username, CAP + 1);
    expect(over.res.status).toBe(413);
    expect(over.res.body).toEqual({ error: 'payload_too_large', message: expect.any(String) });
    expect((await create(a, 'nobody-here', 10)).res.status).toBe(404);
    const noVersion = await t.api.post(`/uploads?to=${b.username}`, undefined, {
      token: a.token,
      headers: { 'upload-length': '10' },
    });
    expect(noVersion.status).toBe(412);
    expect(noVersion.body.error).toBe('unsupported_version');
    const deferred = await t.api.post(`/uploads?to=${b.username}`, undefined, {
      token: a.token,
      headers: { ...TUS, 'upload-defer-length': '1' },
      spec: false,
    });
    expect(deferred.status).toBe(400);
    expect(deferred.headers.get('content-type')).toMatch(/^application\/json/);
    const count = await t.deps.pool.query(
      'SELECT count(*)::int AS n FROM photo_uploads WHERE sender_id = $1',
      [a.id],
    );
    expect(count.rows[0].n).toBe(0);
  });

  it('a PATCH past the declared length is 413 and the upload is unchanged', async () => {
    const a = await makeDeviceUser(t);
    const b = await makeDeviceUser(t);
    const { path } = await create(a, b.username, 100);
    const res = await patch(a, path, 0, randomBytes(101));
    expect(res.status).toBe(413);
    expect(res.body.error).toBe('payload_too_large');
    expect(uploadFds()).toBe(0);
  });

  it('a stalled PATCH gets a JSON 408 after the idle timeout; the bytes before it are kept', async () => {
    const a = await makeDeviceUser(t);
    const b = await makeDeviceUser(t);
    const { path } = await create(a, b.username, 5000);
    const answer = await new Promise<string>((resolve) => {
      const url = new URL(t.baseUrl);
      let out = '';
      const sock = connect(Number(url.port), url.hostname, () => {
        sock.write(
          `PATCH ${path} HTTP/1.1\r\nHost: relay\r\nAuthorization: Bearer ${a.token}\r\nTus-Resumable: 1.0.0\r\n` +
            'Upload-Offset: 0\r\nContent-Type: application/offset+octet-stream\r\nContent-Length: 5000\r\n\r\n',
        );
        sock.write(randomBytes(1000));
      });
      sock.on('data', (c) => {
        out += c.toString('latin1');
      });
      sock.on('error', () => undefined);
      sock.on('close', () => resolve(out));
    });
    expect(answer).toMatch(/^HTTP\/1\.1 408 /);
    expect(JSON.parse(answer.slice(answer.indexOf('\r\n\r\n') + 4)).error).toBe('request_timeout');
    await vi.waitFor(() => expect(uploadFds()).toBe(0), { timeout: 5000, interval: 50 });
    expect((await head(a, path)).headers.get('upload-offset')).toBe('1000');
  });

  it('expired uploads are refused and swept with their files', async () => {
    const a = await makeDeviceUser(t);
    const b = await makeDeviceUser(t);
    const { path, id } = await create(a, b.username, 1000);
    expect((await patch(a, path, 0, randomBytes(300))).status).toBe(204);
    const mine = () => list(uploads).filter((f) => f.startsWith(id));
    expect(mine()).toEqual([id, `${id}.json`].sort());
    await t.deps.pool.query('UPDATE photo_uploads SET expires_at = $2 WHERE id = $1', [
      id,
      new Date(t.clock.now() - 1000),
    ]);
    expect((await head(a, path)).status).toBe(404);
    expect((await patch(a, path, 300, randomBytes(10))).status).toBe(404);
    expect(await sweepUploads(t.deps, new Date(t.clock.now()))).toBeGreaterThanOrEqual(1);
    expect(mine()).toEqual([]);
    const row = await t.deps.pool.query('SELECT 1 FROM photo_uploads WHERE id = $1', [id]);
    expect(row.rowCount).toBe(0);
  });

  it('quota race: 15 parallel creations with 5 free slots reserve exactly 5', async () => {
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
          const res = await capped.api.post(`/uploads?to=${b.username}`, undefined, {
            token: a.token,
            headers: { ...TUS, 'upload-length': '10' },
          });
          if (res.status === 409) expect(res.body.error).toBe('photo_quota');
          return res.status;
        }),
      );
      expect(statuses.filter((s) => s === 201)).toHaveLength(5);
      expect(statuses.filter((s) => s === 409)).toHaveLength(10);
      const n = await capped.deps.pool.query(
        `SELECT (SELECT count(*) FROM photos WHERE sender_id = $1)::int
              + (SELECT count(*) FROM photo_uploads WHERE sender_id = $1)::int AS n`,
        [a.id],
      );
      expect(n.rows[0].n).toBe(20);
      // And the old single-request route counts the unfinished uploads too.
      const old = await capped.api.post(`/send_photo?to=${b.username}`, undefined, {
        token: a.token,
        raw: randomBytes(10),
        headers: { 'content-type': 'application/octet-stream' },
      });
      expect(old.status).toBe(409);
      await capped.deps.pool.query('DELETE FROM photos WHERE sender_id = $1', [a.id]);
      await capped.deps.pool.query('DELETE FROM photo_uploads WHERE sender_id = $1', [a.id]);
    } finally {
      await capped.close();
    }
  });
});

describe('no CORS on the tus routes (same origin, like every other route)', () => {
  it('answers no Access-Control-Allow-Origin to a foreign page', async () => {
    const a = await makeDeviceUser(t);
    const b = await makeDeviceUser(t);
    const res = await t.api.post(`/uploads?to=${b.username}`, undefined, {
      token: a.token,
      headers: { ...TUS, 'upload-length': '10', origin: 'https://evil.example' },
    });
    expect(res.status).toBe(201);
    expect(res.headers.get('access-control-allow-origin')).toBeNull();
    const options = await fetch(`${t.baseUrl}/uploads`, {
      method: 'OPTIONS',
      headers: { origin: 'https://evil.example', 'access-control-request-method': 'PATCH' },
    });
    expect(options.headers.get('access-control-allow-origin')).toBeNull();
  });
});
