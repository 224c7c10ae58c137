// Bench fixtures: users with live sessions and access tokens made in bulk, straight in the
// database (what the auth flow would leave behind), and the relay started as a child process.
import { type ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { resolve } from 'node:path';
import type pg from 'pg';
import { signAccessToken } from '../src/auth/access-token.js';
import { systemClock } from '../src/clock.js';
import type { Config } from '../src/config.js';
import type { AppDeps } from '../src/deps.js';

export interface BenchUser {
  id: string;
  username: string;
  /** The session and token of device 1. */
  sessionId: string;
  token: string;
  /** Tokens of devices 2 … `devices` (linked devices, one session each), when asked for. */
  linked: { deviceId: number; token: string }[];
}

/**
 * `n` active users, each with device 1 and one session bound to it and a signed access token;
 * with `devices` > 1 also linked devices 2 … `devices`, one session each.
 */
export async function makeUsers(
  pool: pg.Pool,
  config: Config,
  prefix: string,
  n: number,
  devices = 1,
): Promise<BenchUser[]> {
  const users: BenchUser[] = [];
  const signer = { config, clock: systemClock } as unknown as AppDeps;
  for (let start = 0; start < n; start += 5000) {
    const batch = Array.from({ length: Math.min(5000, n - start) }, (_, i) => ({
      id: randomUUID(),
      sid: randomUUID(),
      username: `${prefix}user${start + i}`,
    }));
    await pool.query(
      `INSERT INTO users (id, username, totp_secret, status, confirmed_at)
       SELECT id, username, '\\x00', 'active', now() FROM unnest($1::uuid[], $2::text[]) AS t(id, username)`,
      [batch.map((u) => u.id), batch.map((u) => u.username)],
    );
    // Device 1 of each account, published (an identity key, both signed prekeys: random bytes,
    // the relay never looks inside), and the session bound to it (migrations 0070, 0071).
    await pool.query(
      `INSERT INTO devices (user_id, device_id, name, kind)
       SELECT uid, 1, 'Bench device', 'other' FROM unnest($1::uuid[]) AS t(uid)`,
      [batch.map((u) => u.id)],
    );
    await pool.query(
      `INSERT INTO identity_keys (user_id, public_key)
       SELECT uid, uuid_send(gen_random_uuid()) || uuid_send(gen_random_uuid()) FROM unnest($1::uuid[]) AS t(uid)`,
      [batch.map((u) => u.id)],
    );
    await publishBench(
      pool,
      batch.map((u) => u.id),
      1,
    );
    await pool.query(
      `INSERT INTO sessions (id, user_id, expires_at, device_id)
       SELECT sid, uid, now() + interval '1 day', 1 FROM unnest($1::uuid[], $2::uuid[]) AS t(sid, uid)`,
      [batch.map((u) => u.sid), batch.map((u) => u.id)],
    );
    for (const u of batch) {
      const { token } = await signAccessToken(signer, { userId: u.id, sessionId: u.sid });
      const linked: BenchUser['linked'] = [];
      for (let d = 2; d <= devices; d++) {
        const sid = randomUUID();
        await pool.query(
          `INSERT INTO devices (user_id, device_id, name, kind) VALUES ($1, $2, 'Bench device', 'other')`,
          [u.id, d],
        );
        await publishBench(pool, [u.id], d);
        await pool.query(
          `INSERT INTO sessions (id, user_id, expires_at, device_id) VALUES ($1, $2, now() + interval '1 day', $3)`,
          [sid, u.id, d],
        );
        linked.push({
          deviceId: d,
          token: (await signAccessToken(signer, { userId: u.id, sessionId: sid })).token,
        });
      }
      users.push({ id: u.id, username: u.username, sessionId: u.sid, token, linked });
    }
  }
  return users;
}

/** Both signed prekeys of device `deviceId` of each user (random bytes). */
async function publishBench(pool: pg.Pool, userIds: string[], deviceId: number): Promise<void> {
  await pool.query(
    `INSERT INTO signed_prekeys (user_id, device_id, kind, key_id, public_key, signature)
     SELECT uid, $2, k.kind, 1, uuid_send(gen_random_uuid()) || uuid_send(gen_random_uuid()), uuid_send(gen_random_uuid())
       FROM unnest($1::uuid[]) AS t(uid), (VALUES ('x25519'), ('mlkem768')) AS k(kind)`,
    [userIds, deviceId],
  );
}

export interface RelayProcess {
  baseUrl: string;
  pid: number;
  /** Resident set size of the relay process, bytes (from /proc). */
  rss(): Promise<number>;
  /** CPU time (user + system) the relay process has used so far, ms (from /proc). */
  cpuMs(): Promise<number>;
  stop(): Promise<void>;
  /** SIGKILL: the process dies at once, mid-transaction if one is running; resolves on exit. */
  kill(): Promise<void>;
}

/**
 * CPU time process `pid` of this machine has used so far, all its threads, ms (from /proc): the
 * nanoseconds on CPU of /proc/<pid>/task/<tid>/schedstat, or where the kernel has no schedstat,
 * utime + stime of /proc/<pid>/stat (ticks of 10 ms: too coarse for a few hundred ms). A thread
 * that ends between two readings takes its time with it; the relay's and PostgreSQL's threads
 * live as long as their process.
 */
export async function processCpuMs(pid: number): Promise<number> {
  const { readdir, readFile } = await import('node:fs/promises');
  const onCpuNs = await Promise.all(
    (await readdir(`/proc/${pid}/task`)).map((tid) =>
      readFile(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').then(
        (text) => Number(text.split(' ')[0]),
        () => Number.NaN,
      ),
    ),
  );
  const known = onCpuNs.filter(Number.isFinite);
  if (known.length > 0) return known.reduce((a, b) => a + b, 0) / 1e6;
  // Fields 14 and 15 (utime, stime), counted after the parenthesised name, which may itself hold ") ".
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

/** Starts src/server.ts in its own Node process (its own event loop and heap) and waits for /health. */
export async function startRelay(env: Record<string, string>, port: number): Promise<RelayProcess> {
  const relayDir = resolve(import.meta.dirname, '..');
  const child: ChildProcess = spawn(
    process.execPath,
    [
      ...(process.env.BENCH_NODE_ARGS?.split(' ').filter(Boolean) ?? []),
      '--conditions=source',
      '--import',
      'tsx',
      'src/server.ts',
    ],
    {
      cwd: relayDir,
      env: { ...process.env, ...env, PORT: String(port), HOST: '127.0.0.1' },
      stdio: ['ignore', 'ignore', 'inherit'],
    },
  );
  const baseUrl = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`relay exited with ${child.exitCode}`);
    try {
      if ((await fetch(`${baseUrl}/health`)).ok) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error('relay did not start within 60 s');
    await new Promise((r) => setTimeout(r, 200));
  }
  const pid = child.pid as number;
  return {
    baseUrl,
    pid,
    rss: async () => {
      const { readFile } = await import('node:fs/promises');
      const status = await readFile(`/proc/${pid}/status`, 'utf8');
      const kb = /VmRSS:\s+(\d+) kB/.exec(status)?.[1];
      return Number(kb) * 1024;
    },
    cpuMs: () => processCpuMs(pid),
    kill: () =>
      new Promise<void>((r) => {
        if (child.exitCode !== null || child.signalCode !== null) return r();
        child.once('exit', () => r());
        child.kill('SIGKILL');
      }),
    stop: () =>
      new Promise<void>((r) => {
        child.once('exit', () => r());
        child.kill('SIGTERM');
        setTimeout(() => child.kill('SIGKILL'), 10_000).unref();
      }),
  };
}
