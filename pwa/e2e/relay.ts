// Starts the real relay (relay/src/server.ts through tsx) on its own embedded PostgreSQL in
// a temporary directory, as a child process; stops it and removes its data afterwards.

import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import pg from 'pg';
import { LateRelayTarget, pwaDir, type Served, startPreview } from './servers.ts';

/** Node flags running the relay from its TypeScript sources, crypto-core too (its "source" condition). */
const FROM_SOURCE = ['--conditions=source', '--import', 'tsx'];

export interface RunningRelay {
  readonly port: number;
  readonly dataDir: string;
  /** Everything the relay wrote to stdout/stderr (its logs). */
  readonly logs: () => string;
  /** Whether the process still runs, or how it ended. */
  readonly state: () => string;
  stop(): Promise<void>;
}

/** The relays started and not yet stopped, for the report on a failed test (relayReport). */
const running = new Set<RunningRelay>();

/** Log lines shown per relay when a test fails: the recent past, not the whole run. */
const REPORT_LINES = 60;
/** And at most this many characters of them (a stack trace can make lines long). */
const REPORT_CHARS = 12_000;

/**
 * Masks anything token-like in a log line before it is printed to CI output. The relay logs no
 * headers, bodies or tokens (relay/src/logger.ts) and redacts known fields; this is a second
 * guard for what the process prints outside its logger (a stack trace, a dependency's output).
 */
function masked(line: string): string {
  return line
    .replace(/eyJ[\w-]+\.[\w-]+\.[\w-]*/g, '[jwt]')
    .replace(/\b(bearer)\s+\S+/gi, '$1 [masked]')
    .replace(/("[\w-]*(?:token|secret|password)[\w-]*"\s*:\s*)"[^"]*"/gi, '$1"[masked]"');
}

/**
 * What the relays of this test file were doing when a test failed: each one's process state and
 * its last log lines. A test that waits on the page and times out says only what it waited for;
 * this says whether the relay was there to answer (e2e/setup.ts prints it for every e2e file).
 */
export function relayReport(): string {
  return [...running]
    .map((relay) => {
      const lines = relay.logs().trimEnd().split('\n').slice(-REPORT_LINES).map(masked).join('\n');
      return [
        `relay on port ${relay.port}: ${relay.state()}`,
        `its last ${REPORT_LINES} log lines:`,
        lines.slice(-REPORT_CHARS),
      ].join('\n');
    })
    .join('\n\n');
}

/**
 * The built app served by the preview, and a relay of its own behind the preview's /api. Every
 * port is the OS's choice: the preview binds port 0, the relay (PORT=0) learns the page's origin
 * from it, then the preview's /api proxy is pointed at the port the relay got.
 */
export async function startAppWithRelay(
  extraEnv: Readonly<Record<string, string>> = {},
): Promise<{ served: Served; relay: RunningRelay }> {
  const target = new LateRelayTarget();
  const served = await startPreview(undefined, 0, target);
  const relay = await startRelay(served.url, extraEnv);
  target.set(`http://127.0.0.1:${relay.port}`);
  return { served, relay };
}

/** The port in the relay's "relay listening" log line (src/server.ts logs the bound address). */
function listeningPort(output: string): number | null {
  for (const line of output.split('\n')) {
    if (!line.includes('relay listening')) continue;
    try {
      const { url } = JSON.parse(line) as { url?: string };
      if (url) return Number(new URL(url).port);
    } catch {
      // not a JSON log line
    }
  }
  return null;
}

export async function startRelay(
  allowedOrigin: string,
  extraEnv: Readonly<Record<string, string>> = {},
): Promise<RunningRelay> {
  const relayDir = resolve(pwaDir, '../relay');
  const dataDir = mkdtempSync(join(tmpdir(), 'sd-pwa-e2e-relay-'));
  // The relay binds a port the OS picks (PORT=0) and logs it: nothing to probe, nothing to race.
  let port = 0;
  let output = '';
  // Its own embedded PostgreSQL: never a server from the environment.
  const { DATABASE_URL: _ignored, ...inherited } = process.env;
  const child: ChildProcess = spawn(process.execPath, [...FROM_SOURCE, 'src/server.ts'], {
    cwd: relayDir,
    env: {
      ...inherited,
      NODE_ENV: 'development',
      HOST: '127.0.0.1',
      PORT: '0',
      DATA_DIR: dataDir,
      LOG_LEVEL: 'info',
      WS_ALLOWED_ORIGINS: allowedOrigin,
      ...extraEnv,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout?.on('data', (d: Buffer) => {
    output += d.toString();
  });
  child.stderr?.on('data', (d: Buffer) => {
    output += d.toString();
  });
  const started = new Promise<void>((done, fail) => {
    const timer = setTimeout(() => fail(new Error(`relay did not start:\n${output.slice(-2000)}`)), 180_000);
    const check = setInterval(() => {
      const bound = listeningPort(output);
      if (bound) {
        port = bound;
        clearInterval(check);
        clearTimeout(timer);
        done();
      }
    }, 100);
    child.once('exit', (code) => {
      clearInterval(check);
      clearTimeout(timer);
      fail(new Error(`relay exited with ${code}:\n${output.slice(-2000)}`));
    });
  });
  try {
    await started;
  } catch (err) {
    // Leave nothing behind: the process (and its PostgreSQL) and the data directory.
    child.removeAllListeners('exit');
    if (child.exitCode === null) {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await exited;
    }
    rmSync(dataDir, { recursive: true, force: true });
    throw err;
  }
  const relay: RunningRelay = {
    port,
    dataDir,
    logs: () => output,
    state: () =>
      child.exitCode !== null
        ? `exited with code ${child.exitCode} (pid ${child.pid})`
        : child.signalCode !== null
          ? `killed by ${child.signalCode} (pid ${child.pid})`
          : `running (pid ${child.pid})`,
    stop: () =>
      new Promise<void>((done) => {
        running.delete(relay);
        child.removeAllListeners('exit');
        const cleanup = () => {
          rmSync(dataDir, { recursive: true, force: true });
          done();
        };
        if (child.exitCode !== null || child.signalCode !== null) return cleanup();
        child.once('exit', cleanup);
        child.kill('SIGTERM');
      }),
  };
  running.add(relay);
  return relay;
}

/** Every regular file under `dir`, for the plaintext canary. */
export function filesUnder(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    const st = statSync(path);
    if (st.isDirectory()) out.push(...filesUnder(path));
    else if (st.isFile()) out.push(path);
  }
  return out;
}

/** A client of the relay's own database (embedded PostgreSQL in its data directory). */
export async function relayDb(relay: RunningRelay): Promise<pg.Client> {
  const pgDir = join(relay.dataDir, 'postgres');
  const port = Number(readFileSync(join(pgDir, 'data', 'postmaster.pid'), 'utf8').split('\n')[3]);
  const password = readFileSync(join(pgDir, 'password'), 'utf8').trim();
  const client = new pg.Client({
    host: '127.0.0.1',
    port,
    user: 'postgres',
    password,
    database: 'securedrop',
  });
  await client.connect();
  return client;
}

/**
 * `subject`'s identity key replaced in the relay's table, and `owner` told of it as the relay
 * tells a contact (a key_change item in owner's stream, announced as src/notify/notifier.ts
 * announces stream items, or an open socket would hear of it only when something else read it).
 */
export async function changeKeyOf(relay: RunningRelay, owner: string, subject: string): Promise<void> {
  const db = await relayDb(relay);
  try {
    await db.query(
      `UPDATE identity_keys SET public_key = $2, updated_at = now()
        WHERE user_id = (SELECT id FROM users WHERE username = $1)`,
      [subject, randomBytes(32)],
    );
    await db.query(
      `WITH alloc AS (
         INSERT INTO user_streams AS us (user_id, seq) SELECT id, 1 FROM users WHERE username = $1
         ON CONFLICT (user_id) DO UPDATE SET seq = us.seq + 1 RETURNING user_id, seq
       ), event AS (
         INSERT INTO stream_events (user_id, seq, kind, subject_id, created_at)
         SELECT user_id, seq, 'key_change', (SELECT id FROM users WHERE username = $2), now() FROM alloc
         RETURNING user_id, seq
       )
       SELECT pg_notify('relay_events', json_build_array(json_build_object('u', user_id::text, 'k', 's', 'q', seq))::text)
         FROM event`,
      [owner, subject],
    );
  } finally {
    await db.end();
  }
}

/**
 * The plaintext canary: every value of every table of the relay's database and every file of
 * its photo store, searched for each needle (message texts, photo bytes). Returns the needles
 * found — none, when the relay holds only ciphertext.
 */
export async function plaintextCanary(relay: RunningRelay, needles: readonly Buffer[]): Promise<string[]> {
  const client = await relayDb(relay);
  const dump: Buffer[] = [];
  try {
    const tables = await client.query<{ tablename: string }>(
      "SELECT tablename FROM pg_tables WHERE schemaname = 'public'",
    );
    for (const { tablename } of tables.rows) {
      const rows = await client.query(`SELECT * FROM "${tablename}"`);
      for (const row of rows.rows as Record<string, unknown>[])
        for (const v of Object.values(row)) dump.push(Buffer.isBuffer(v) ? v : Buffer.from(String(v)));
    }
  } finally {
    await client.end();
  }
  if (dump.length === 0) throw new Error('the database dump is empty: the canary would prove nothing');
  const photos = join(relay.dataDir, 'photos');
  const stores = [
    Buffer.concat(dump),
    ...(existsSync(photos) ? filesUnder(photos).map((f) => readFileSync(f)) : []),
  ];
  return needles.filter((n) => stores.some((s) => s.includes(n))).map((n) => n.toString('hex').slice(0, 16));
}
