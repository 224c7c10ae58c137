// Regression tests through the real Django host (uvicorn child process) in front of the real relay
// (README "Reliability"), named after the findings: aborted uploads leaving files and descriptors
// in the relay, an oversized Content-Length read before it was refused, and credentials in logs.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readlinkSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { makeApi, startTestApp, type TestApp } from './helpers/app.js';
import { loginNextStep, registerUser } from './helpers/auth-flow.js';
import { freshDatabase, type TestDatabase } from './helpers/db.js';
import { type RunningHost, startHost } from './helpers/host.js';
import { makeDeviceUser } from './helpers/relay-data.js';
import { totpAt } from './helpers/totp-reference.js';

const MiB = 1024 * 1024;
let db: TestDatabase;
let t: TestApp;
let host: RunningHost;
let dataDir: string;
let photos: string;

beforeAll(async () => {
  db = await freshDatabase();
  dataDir = mkdtempSync(join(tmpdir(), 'sd-relay-through-host-'));
  photos = join(dataDir, 'photos');
  // Default photo cap (25 MiB) and default upload timeouts: nothing here may rely on a short one.
  t = await startTestApp({ databaseUrl: db.url, env: { DATA_DIR: dataDir, SEND_RATE_BURST: '1000' } });
  host = await startHost(t.baseUrl);
});
afterAll(async () => {
  await host?.stop();
  await t?.close();
  await db?.drop();
  rmSync(dataDir, { recursive: true, force: true });
});

const files = () => {
  try {
    return readdirSync(photos);
  } catch {
    return [];
  }
};

function descriptors(): { total: number; photo: number } {
  let total = 0;
  let photo = 0;
  for (const fd of readdirSync('/proc/self/fd')) {
    try {
      if (readlinkSync(`/proc/self/fd/${fd}`).startsWith(photos)) photo++;
      total++;
    } catch {
      // closed meanwhile
    }
  }
  return { total, photo };
}

/** Raw socket to the host: writes `data`, then either cuts at once or collects the answer. */
function toHost(data: Buffer, opts: { cutAfterMs?: number } = {}): Promise<string> {
  return new Promise((resolve) => {
    const sock = connect(host.port, '127.0.0.1', () => {
      sock.write(data);
      if (opts.cutAfterMs !== undefined) setTimeout(() => sock.destroy(), opts.cutAfterMs);
    });
    let out = '';
    sock.setTimeout(15_000, () => sock.destroy());
    sock.on('data', (c) => {
      out += c.toString('latin1');
    });
    sock.on('error', () => undefined);
    sock.on('close', () => resolve(out));
  });
}

const uploadHead = (token: string, to: string, length: number) =>
  Buffer.from(
    `POST /api/send_photo?to=${to} HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer ${token}\r\n` +
      `Content-Type: application/octet-stream\r\nContent-Length: ${length}\r\n\r\n`,
  );

describe('through the host', () => {
  it('aborted-upload-leaks-part-file-and-fd: uploads cut through the host leave nothing open in the relay', async () => {
    const a = await makeDeviceUser(t);
    const b = await makeDeviceUser(t);
    await Promise.all(Array.from({ length: 8 }, () => t.deps.pool.query('SELECT pg_sleep(0.01)')));
    const before = descriptors();
    const cuts: Promise<string>[] = [];
    for (let i = 0; i < 10; i++)
      cuts.push(
        toHost(Buffer.concat([uploadHead(a.token, b.username, 100_000), randomBytes(i * 3000)]), {
          cutAfterMs: i % 2 === 0 ? 0 : 100,
        }),
      );
    await Promise.all(cuts);
    await vi.waitFor(
      () => {
        expect(files().filter((f) => f.endsWith('.part'))).toEqual([]);
        expect(descriptors().photo).toBe(0);
        expect(descriptors().total).toBeLessThanOrEqual(before.total);
      },
      { timeout: 15_000, interval: 50 },
    );
    expect(files()).toEqual([]);
  });

  it('content-length-over-cap-read-before-refused: 25 MiB + 1 announced, no body sent, 413 at once', async () => {
    const a = await makeDeviceUser(t);
    const b = await makeDeviceUser(t);
    // The host's body idle timeout is 30 s and the socket gives up after 15 s: an answer at all
    // means the relay's refusal from the header came straight back.
    const raw = await toHost(uploadHead(a.token, b.username, 25 * MiB + 1));
    expect(raw).toMatch(/^HTTP\/1\.1 413 /);
    expect(raw.toLowerCase()).toContain('connection: close');
    expect(JSON.parse(raw.slice(raw.indexOf('\r\n\r\n') + 4)).error).toBe('payload_too_large');
    expect(files()).toEqual([]);
  });

  it('token-in-query-string-logged: no JWT, TOTP code or secret, or recovery code in any log line', async () => {
    const api = makeApi(`${host.url}/api`);
    const user = await registerUser(api, t.clock, `logcheck_${randomBytes(3).toString('hex')}`);
    const login = await loginNextStep(api, t.clock, user);
    expect(login.status).toBe(200);
    const access: string = login.body.access_token;
    const refresh: string = login.body.refresh_token;
    t.clock.advance(30_000);
    const code = totpAt(user.secret, t.clock.now());
    const recovery = user.recoveryCodes[0] as string;
    const secrets = [user.access, user.refresh, access, refresh, user.secret, code, ...user.recoveryCodes];
    const q = `token=${access}&access_token=${access}&code=${code}&secret=${user.secret}&recovery=${recovery}`;
    const auth = { authorization: `Bearer ${access}` };
    const probes: Promise<unknown>[] = [
      // In query strings: on a real route, an unknown route and a route that refuses them.
      fetch(`${host.url}/api/me?${q}`, { headers: auth }),
      fetch(`${host.url}/api/nowhere?${q}`),
      fetch(`${host.url}/api/send_photo?to=x&${q}`, { method: 'POST', headers: auth, body: 'x' }),
      fetch(`${host.url}/?${q}`),
      // In headers, valid and malformed.
      fetch(`${host.url}/api/me`, { headers: { authorization: `Bearer ${access}x`, 'x-totp': code } }),
      fetch(`${host.url}/api/me`, {
        headers: { authorization: `Basic ${user.secret}`, cookie: `t=${refresh}` },
      }),
      // In bodies: valid, wrong, malformed JSON, oversized.
      fetch(`${host.url}/api/login`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ username: user.username, code }),
      }),
      fetch(`${host.url}/api/login`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ username: user.username, code: recovery, extra: user.secret }),
      }),
      fetch(`${host.url}/api/session/refresh`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: `{"refresh_token": "${refresh}", `,
      }),
      fetch(`${host.url}/api/register/confirm`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ username: user.username, code, pad: 'x'.repeat(10_000), secret: user.secret }),
      }),
    ];
    for (const p of await Promise.allSettled(probes)) expect(p.status).toBe('fulfilled');
    // A recovery-code login and a refresh, each a real success.
    t.clock.advance(30_000);
    const viaRecovery = await api.post('/login', { username: user.username, code: recovery });
    expect(viaRecovery.status).toBe(200);
    expect(
      (await api.post('/session/refresh', { refresh_token: viaRecovery.body.refresh_token })).status,
    ).toBe(200);
    secrets.push(viaRecovery.body.access_token, viaRecovery.body.refresh_token);

    // uvicorn writes its access line after the answer: wait until the last probe is logged.
    await vi.waitFor(() => expect(host.output()).toContain('/api/session/refresh'), { timeout: 10_000 });
    const logs = `${host.output()}\n${t.logs.join('')}`;
    expect(logs).toContain('/api/me'); // the requests were logged, only without their credentials
    for (const secret of secrets) {
      const at = new RegExp(
        `(?<![0-9A-Za-z])${secret.replace(/[.*+?^${}()|[\]\\-]/g, '\\$&')}(?![0-9A-Za-z])`,
      );
      expect(logs, `a credential (${secret.length} chars) is in a log line`).not.toMatch(at);
    }
    // Nothing shaped like a JWT at all.
    expect(logs).not.toMatch(/eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}\./);
  });
});
