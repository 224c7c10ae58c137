// `npm run bench:upload-resume -w relay`: bytes a photo upload costs when its connection is cut
// once at half the photo (RELIABILITY.md "Resumable photo uploads"). A real relay process on an
// embedded PostgreSQL; the client is tus-js-client, the PWA's own upload library, with the PWA's
// chunk size; between them a loopback TCP proxy counts every byte the client sends (request
// heads included) and cuts the connection once, when the count passes half the photo. Baselines
// from the same run: the same tus upload uncut, and the single-request POST /send_photo cut at
// the same point and sent again from the start (what an upload without resume must do).
// Settings (env): BENCH_PHOTO_BYTES (26214400 = the 25 MiB cap).
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import getPort from 'get-port';
import pg from 'pg';
import { Upload } from 'tus-js-client';
import { loadConfig } from '../src/config.js';
import { startEmbeddedPostgres } from '../src/db/embedded.js';
import { migrate } from '../src/db/migrate.js';
import { makeUsers, startRelay } from './fixtures.js';

const PHOTO = Number(process.env.BENCH_PHOTO_BYTES ?? 25 * 1024 * 1024);
/** As pwa/src/photo/transfer.ts UPLOAD_CHUNK_BYTES. */
const CHUNK = 4 * 1024 * 1024;

interface CuttingProxy {
  port: number;
  sent(): number;
  /** Cut every open connection once the client has sent more than `bytes` in all (once). */
  cutAfter(bytes: number): void;
  reset(): void;
  close(): Promise<void>;
}

function cuttingProxy(targetPort: number): Promise<CuttingProxy> {
  let sent = 0;
  let cutAt = Number.POSITIVE_INFINITY;
  let cut = false;
  const open = new Set<Socket>();
  const server: Server = createServer((client) => {
    const upstream = connect(targetPort, '127.0.0.1');
    open.add(client).add(upstream);
    const drop = () => {
      client.destroy();
      upstream.destroy();
      open.delete(client);
      open.delete(upstream);
    };
    client.on('data', (chunk: Buffer) => {
      sent += chunk.length;
      upstream.write(chunk);
      if (!cut && sent > cutAt) {
        cut = true;
        for (const s of open) s.destroy();
      }
    });
    upstream.pipe(client);
    client.on('close', drop).on('error', drop);
    upstream.on('close', drop).on('error', drop);
  });
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () => {
      const port = (server.address() as { port: number }).port;
      resolve({
        port,
        sent: () => sent,
        cutAfter: (bytes) => {
          cutAt = bytes;
          cut = false;
        },
        reset: () => {
          sent = 0;
          cutAt = Number.POSITIVE_INFINITY;
          cut = false;
        },
        close: () =>
          new Promise<void>((r) => {
            for (const s of open) s.destroy();
            server.close(() => r());
          }),
      });
    }),
  );
}

function tusUpload(base: string, to: string, token: string, photo: Buffer): Promise<void> {
  return new Promise((resolve, reject) => {
    const upload = new Upload(photo, {
      endpoint: `${base}/uploads?to=${to}`,
      chunkSize: CHUNK,
      retryDelays: [0, 200, 500, 1000],
      headers: { authorization: `Bearer ${token}` },
      onSuccess: () => resolve(),
      onError: reject,
    });
    upload.start();
  });
}

/** POST /send_photo, sent again from the start after a failure (the only way without resume). */
async function singleRequest(base: string, to: string, token: string, photo: Buffer): Promise<number> {
  for (let attempt = 1; attempt <= 3; attempt++) {
    const status = await new Promise<number>((resolve) => {
      const req = request(`${base}/send_photo?to=${to}`, {
        method: 'POST',
        headers: {
          authorization: `Bearer ${token}`,
          'content-type': 'application/octet-stream',
          'content-length': String(photo.length),
        },
      });
      req.on('response', (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on('error', () => resolve(0));
      req.end(photo);
    });
    if (status === 201) return attempt;
  }
  throw new Error('single-request upload failed three times');
}

const ratio = (n: number) => `${(n / PHOTO).toFixed(3)}×`;
const mib = (n: number) => `${(n / 1048576).toFixed(2)} MiB`;

async function main() {
  const dir = mkdtempSync(join(tmpdir(), 'sd-relay-bench-upload-'));
  chmodSync(dir, 0o711); // the embedded PostgreSQL runs as its own OS user and must traverse it
  const db = await startEmbeddedPostgres(join(dir, 'pg'));
  try {
    const admin = new pg.Client({ connectionString: db.adminUrl() });
    await admin.connect();
    await admin.query('CREATE DATABASE bench');
    await admin.end();
    const url = db.adminUrl('bench');
    await migrate(url);
    const env = {
      NODE_ENV: 'production',
      DATABASE_URL: url,
      DATA_DIR: join(dir, 'data'),
      LOG_LEVEL: 'warn',
      JWT_SECRET: randomBytes(32).toString('base64'),
      TOTP_ENCRYPTION_KEY: randomBytes(32).toString('base64'),
      SEND_RATE_BURST: '1000',
      MAX_PHOTO_BYTES: String(Math.max(PHOTO, 1024)),
    };
    const pool = new pg.Pool({ connectionString: url, max: 2 });
    const [a, b] = await makeUsers(pool, loadConfig(env), 'u', 2);
    if (!a || !b) throw new Error('no users');
    const relay = await startRelay(env, await getPort({ host: '127.0.0.1' }));
    const proxy = await cuttingProxy(Number(new URL(relay.baseUrl).port));
    const base = `http://127.0.0.1:${proxy.port}`;
    try {
      const photo = randomBytes(PHOTO);
      console.log(`upload resume bench: a ${mib(PHOTO)} photo, ${mib(CHUNK)} PATCHes, one cut at 50%`);

      proxy.reset();
      await tusUpload(base, b.username, a.token, photo);
      const uncut = proxy.sent();
      console.log(`baseline, tus uncut:                 ${mib(uncut)} sent = ${ratio(uncut)} the photo`);

      proxy.reset();
      proxy.cutAfter(PHOTO / 2);
      await tusUpload(base, b.username, a.token, photo);
      const resumed = proxy.sent();
      console.log(`tus, cut at 50%, resumed:            ${mib(resumed)} sent = ${ratio(resumed)} the photo`);

      proxy.reset();
      proxy.cutAfter(PHOTO / 2);
      const attempts = await singleRequest(base, b.username, a.token, photo);
      const restarted = proxy.sent();
      console.log(
        `POST /send_photo, cut at 50%, resent: ${mib(restarted)} sent = ${ratio(restarted)} the photo (${attempts} attempts)`,
      );
      console.log(
        `resume saves ${mib(restarted - resumed)} (${((1 - resumed / restarted) * 100).toFixed(1)}% of the bytes without resume)`,
      );
    } finally {
      await proxy.close();
      await relay.stop();
      await pool.end();
    }
  } finally {
    await db.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
