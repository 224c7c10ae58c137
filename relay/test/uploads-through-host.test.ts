// Resumable photo uploads (spec/openapi.yaml /uploads, tus 1.0.0) through the real Django host
// in front of the real relay: OPTIONS, POST, HEAD, PATCH and DELETE and the Tus-*/Upload-*
// headers pass both ways; the upload URL resolves under /api; a PATCH the host cuts at its body
// deadline (here a total of 2 s) loses nothing — the relay keeps the bytes that arrived and the
// client resumes from the offset HEAD reports, so the host's deadlines never defeat a slow upload.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readlinkSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { startTestApp, type TestApp } from './helpers/app.js';
import { freshDatabase, type TestDatabase } from './helpers/db.js';
import { type RunningHost, startHost } from './helpers/host.js';
import { makeDeviceUser } from './helpers/relay-data.js';

let db: TestDatabase;
let t: TestApp;
let host: RunningHost;
let dataDir: string;
let base: string;

beforeAll(async () => {
  db = await freshDatabase();
  dataDir = mkdtempSync(join(tmpdir(), 'sd-relay-uploads-host-'));
  t = await startTestApp({ databaseUrl: db.url, env: { DATA_DIR: dataDir, SEND_RATE_BURST: '1000' } });
  host = await startHost(t.baseUrl, { SECURE_DROP_BODY_TIMEOUT: '2' });
  base = `http://127.0.0.1:${host.port}/api`;
});
afterAll(async () => {
  await host?.stop();
  await t?.close();
  await db?.drop();
  rmSync(dataDir, { recursive: true, force: true });
});

const TUS = { 'tus-resumable': '1.0.0' };

/** Descriptors of this process (the relay runs in it) open on files of the upload store. */
const uploadFds = () =>
  readdirSync('/proc/self/fd').filter((fd) => {
    try {
      return readlinkSync(`/proc/self/fd/${fd}`).startsWith(join(dataDir, 'photo-uploads'));
    } catch {
      return false;
    }
  }).length;

/** A PATCH to the host that drips `bytes` in 16 KiB pieces every 200 ms; resolves with the raw answer. */
function slowPatch(path: string, token: string, offset: number, bytes: Buffer): Promise<string> {
  return new Promise((resolve) => {
    let out = '';
    let i = 0;
    const sock = connect(host.port, '127.0.0.1', () => {
      sock.write(
        `PATCH ${path} HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer ${token}\r\nTus-Resumable: 1.0.0\r\n` +
          `Upload-Offset: ${offset}\r\nContent-Type: application/offset+octet-stream\r\nContent-Length: ${bytes.length}\r\n\r\n`,
      );
      const drip = setInterval(() => {
        if (sock.destroyed || i >= bytes.length) return clearInterval(drip);
        sock.write(bytes.subarray(i, i + 16_384));
        i += 16_384;
      }, 200);
    });
    sock.setTimeout(20_000, () => sock.destroy());
    sock.on('data', (c) => {
      out += c.toString('latin1');
    });
    sock.on('error', () => undefined);
    sock.on('close', () => resolve(out));
  });
}

describe('resumable uploads through the host', () => {
  it('a PATCH cut by the host resumes from the relay offset and the photo arrives whole', async () => {
    const a = await makeDeviceUser(t);
    const b = await makeDeviceUser(t);
    // Over the host's 256 KiB small-body limit, so it streams the body to the relay as it arrives.
    const photo = randomBytes(400_000);

    const options = await fetch(`${base}/uploads`, { method: 'OPTIONS' });
    expect(options.status).toBe(204);
    expect(options.headers.get('tus-version')).toContain('1.0.0');

    const created = await fetch(`${base}/uploads?to=${b.username}`, {
      method: 'POST',
      headers: { ...TUS, authorization: `Bearer ${a.token}`, 'upload-length': String(photo.length) },
    });
    expect(created.status).toBe(201);
    expect(created.headers.get('tus-resumable')).toBe('1.0.0');
    expect(created.headers.get('upload-expires')).toBeTruthy();
    // Relative to the creation URL, so it stays under /api.
    const url = new URL(created.headers.get('location') ?? '', `${base}/uploads`);
    expect(url.pathname).toMatch(/^\/api\/uploads\/[0-9a-f-]{36}$/);

    // 25 pieces of 16 KiB × 200 ms = 5 s: more than the host's 2 s body total, each pause far below its idle.
    const answer = await slowPatch(url.pathname, a.token, 0, photo);
    expect(answer).toMatch(/^HTTP\/1\.1 408 /);
    // The host stopped the upstream PATCH: the relay closed the file (no descriptor leak).
    await vi.waitFor(() => expect(uploadFds()).toBe(0), { timeout: 10_000, interval: 50 });

    const head = await fetch(url, {
      method: 'HEAD',
      headers: { ...TUS, authorization: `Bearer ${a.token}` },
    });
    expect(head.status).toBe(200);
    expect(head.headers.get('upload-length')).toBe(String(photo.length));
    const offset = Number(head.headers.get('upload-offset'));
    expect(offset).toBeGreaterThan(0);
    expect(offset).toBeLessThan(photo.length);

    const other = await fetch(url, {
      method: 'HEAD',
      headers: { ...TUS, authorization: `Bearer ${b.token}` },
    });
    expect(other.status).toBe(404);

    const rest = await fetch(url, {
      method: 'PATCH',
      headers: {
        ...TUS,
        authorization: `Bearer ${a.token}`,
        'upload-offset': String(offset),
        'content-type': 'application/offset+octet-stream',
      },
      body: photo.subarray(offset),
    });
    expect(rest.status).toBe(204);
    expect(rest.headers.get('upload-offset')).toBe(String(photo.length));

    const got = await fetch(`${base}/get_photo/${url.pathname.split('/').pop()}`, {
      headers: { authorization: `Bearer ${b.token}` },
    });
    expect(Buffer.from(await got.arrayBuffer()).equals(photo)).toBe(true);
  });

  it('DELETE terminates through the host; errors stay JSON', async () => {
    const a = await makeDeviceUser(t);
    const b = await makeDeviceUser(t);
    const created = await fetch(`${base}/uploads?to=${b.username}`, {
      method: 'POST',
      headers: { ...TUS, authorization: `Bearer ${a.token}`, 'upload-length': '10' },
    });
    const url = new URL(created.headers.get('location') ?? '', `${base}/uploads`);
    const del = await fetch(url, {
      method: 'DELETE',
      headers: { ...TUS, authorization: `Bearer ${a.token}` },
    });
    expect(del.status).toBe(204);
    const gone = await fetch(url, {
      method: 'PATCH',
      headers: {
        ...TUS,
        authorization: `Bearer ${a.token}`,
        'upload-offset': '0',
        'content-type': 'application/offset+octet-stream',
      },
      body: randomBytes(10),
    });
    expect(gone.status).toBe(404);
    expect(await gone.json()).toEqual({ error: 'not_found', message: 'no such upload' });
  });
});
