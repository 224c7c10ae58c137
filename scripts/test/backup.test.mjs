// `npm run backup` / `npm run restore` on the database of `npm start`: a real relay on a real
// embedded PostgreSQL 18 holds two accounts, a message and a photo; a live backup (pg_dump 18)
// is taken, Secure Drop stopped, DATA_DIR deleted, the backup restored (pg_restore 18) and
// Secure Drop started again: the recipient logs in with their authenticator and finds the
// message and the photo, byte for byte.
import { randomBytes, randomUUID } from 'node:crypto';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import getPort from 'get-port';
import { afterAll, describe, expect, it } from 'vitest';
import { isAlive, readLock } from '../lib/runlock.mjs';
import { loginAndResume, register, singleDeviceSend } from './accounts.mjs';
import { launch, waitForOutput } from './processes.mjs';

const root = resolve(import.meta.dirname, '../..');
const work = mkdtempSync(join(tmpdir(), 'sd-backup-'));
// The embedded PostgreSQL runs as its own OS user under root and must traverse to DATA_DIR.
chmodSync(work, 0o711);
const dataDir = join(work, 'data');
const backupDir = join(work, 'backup');
const running = [];

afterAll(() => {
  for (const pid of running) if (isAlive(pid)) process.kill(pid, 'SIGKILL');
  rmSync(work, { recursive: true, force: true });
});

function run(cmd, args, env = {}) {
  const r = launch(cmd, args, {
    cwd: root,
    env: { ...process.env, NODE_ENV: 'development', DATA_DIR: dataDir, HOST: '', ...env },
  });
  r.exitCode = r.exited.then(({ code }) => code);
  return r;
}

async function startSecureDrop() {
  const [port, relayPort] = [await getPort({ host: '127.0.0.1' }), await getPort({ host: '127.0.0.1' })];
  const r = run(process.execPath, ['scripts/start.mjs'], {
    PORT: String(port),
    SECURE_DROP_RELAY_PORT: String(relayPort),
  });
  await waitForOutput(r, 'Secure Drop is running', 280_000);
  running.push(r.child.pid, readLock(dataDir).relayPid, readLock(dataDir).hostPid);
  const relay = `http://127.0.0.1:${relayPort}`;
  const api = async (method, path, { token, json, raw, type } = {}) => {
    const headers = {};
    if (token) headers.authorization = `Bearer ${token}`;
    if (json !== undefined) headers['content-type'] = 'application/json';
    if (raw !== undefined) headers['content-type'] = type;
    const res = await fetch(relay + path, {
      method,
      headers,
      body: json !== undefined ? JSON.stringify(json) : raw,
    });
    const isJson = res.headers.get('content-type')?.startsWith('application/json');
    return { status: res.status, body: isJson ? await res.json() : new Uint8Array(await res.arrayBuffer()) };
  };
  const stop = async () => {
    r.child.kill('SIGTERM');
    expect(await r.exitCode).toBe(0);
  };
  return { api, stop };
}

describe('npm run backup → wipe → npm run restore', () => {
  it('brings back accounts, messages and photos', { timeout: 600_000 }, async () => {
    const before = await startSecureDrop();
    const alice = await register(before.api, `alice_${randomBytes(3).toString('hex')}`);
    const bob = await register(before.api, `bob_${randomBytes(3).toString('hex')}`);
    const text = randomBytes(200).toString('base64');
    const sent = await before.api('POST', '/send_message', {
      token: alice.access,
      json: singleDeviceSend(bob.username, randomUUID(), text),
    });
    expect(sent.status, JSON.stringify(sent.body)).toBe(201);
    const photo = randomBytes(70_000);
    const uploaded = await before.api('POST', `/send_photo?to=${bob.username}`, {
      token: alice.access,
      raw: photo,
      type: 'application/octet-stream',
    });
    expect(uploaded.status, JSON.stringify(uploaded.body)).toBe(201);

    // A live backup, while Secure Drop serves.
    const backup = run('npm', ['run', '--silent', 'backup', '--', backupDir]);
    expect(await backup.exitCode, backup.output).toBe(0);
    expect(backup.output).toContain(`backup written to ${backupDir}`);
    expect(backup.output).toContain('1 photo file(s)');
    expect(backup.output).toContain('It includes .data/secrets.json');
    expect(statSync(backupDir).mode & 0o777).toBe(0o700);
    expect(readFileSync(join(backupDir, 'database.dump')).subarray(0, 5).toString()).toBe('PGDMP');
    expect(JSON.parse(readFileSync(join(backupDir, 'manifest.json'), 'utf8'))).toMatchObject({
      format: 1,
      source: 'embedded',
      photos: 1,
      secrets: true,
    });

    // Restoring over a serving instance is refused, naming it.
    const early = run('npm', ['run', '--silent', 'restore', '--', backupDir]);
    expect(await early.exitCode).toBe(1);
    expect(early.output).toMatch(
      /stop Secure Drop before restoring: Secure Drop from an earlier run \(pid \d+\)/,
    );

    await before.stop();
    rmSync(dataDir, { recursive: true, force: true });

    const restored = run('npm', ['run', '--silent', 'restore', '--', backupDir]);
    expect(await restored.exitCode, restored.output).toBe(0);
    expect(existsSync(join(dataDir, 'secrets.json'))).toBe(true);

    const after = await startSecureDrop();
    try {
      // Bob logs in again and resumes his device (spec/protocol.md §16): the device, its
      // mailbox and the photo's readers came back with the database.
      const token = await loginAndResume(after.api, bob);
      const inbox = await after.api('GET', '/get_messages', { token });
      expect(inbox.status).toBe(200);
      expect(inbox.body.messages.map((m) => [m.from, m.from_device, m.body])).toEqual([
        [alice.username, alice.deviceId, text],
      ]);
      const got = await after.api('GET', `/get_photo/${uploaded.body.id}`, { token });
      expect(got.status).toBe(200);
      expect(Buffer.from(got.body).equals(photo)).toBe(true);
    } finally {
      await after.stop();
    }
  });
});
