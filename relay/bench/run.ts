// `npm run bench -w relay`: the relay against a real (embedded) PostgreSQL, in one run.
//  1. Ceiling: single-row INSERTs into `messages` with `pg` at concurrency C (autocommit).
//  2. End to end: C senders POST /send_message over HTTP (keep-alive) to C receivers connected
//     over WebSocket to a relay child process; delivered messages/s as a ratio of (1), and
//     the p50/p99 latency from the send call to the push arriving. Then the same across two
//     relay processes (senders on one, receivers on the other: LISTEN/NOTIFY on every message).
//  3. Idle WebSockets: K authenticated sockets held open on a fresh relay process; memory per
//     socket from the process RSS (slope between K/2 and K, so start-up allocations cancel).
// Loopback only; every phase is bounded in count and time. Settings (env): BENCH_CONCURRENCY
// (10), BENCH_SECONDS (10), BENCH_BODY_BYTES (256), BENCH_WS_SOCKETS (10000; at most ~19,000
// here: ulimit -n is 20,000 per process), BENCH_LOG_LEVEL (warn).
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import getPort from 'get-port';
import pg from 'pg';
import WebSocket from 'ws';
import { type Config, loadConfig } from '../src/config.js';
import { startEmbeddedPostgres } from '../src/db/embedded.js';
import { migrate } from '../src/db/migrate.js';
import { insertMessage } from '../src/messages/store.js';
import { type BenchUser, makeUsers, startRelay } from './fixtures.js';

const C = Number(process.env.BENCH_CONCURRENCY ?? 10);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);
const BODY = Number(process.env.BENCH_BODY_BYTES ?? 256);
const SOCKETS = Math.min(Number(process.env.BENCH_WS_SOCKETS ?? 10_000), 19_000);
const LOG_LEVEL = process.env.BENCH_LOG_LEVEL ?? 'warn';
const ORIGIN = 'http://bench.local';

const percentile = (sorted: number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] ?? 0;
const fmt = (n: number, d = 0) =>
  n.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d });

async function rawInsertCeiling(
  pool: pg.Pool,
  senders: BenchUser[],
  receivers: BenchUser[],
): Promise<number> {
  let seq = 0;
  let count = 0;
  const body = randomBytes(BODY);
  const until = performance.now() + SECONDS * 1000;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: C }, async (_, w) => {
      const s = senders[w] as BenchUser;
      const r = receivers[w] as BenchUser;
      while (performance.now() < until) {
        const n = ++seq;
        await pool.query(
          'INSERT INTO messages (sender_id, receiver_id, client_id, seq, message_encrypted) VALUES ($1, $2, $3, $4, $5)',
          [s.id, r.id, `raw${n}`, n, body],
        );
        count++;
      }
    }),
  );
  return count / ((performance.now() - started) / 1000);
}

/** The relay's send statement alone (session check, token bucket, mailbox cap, stream seq, insert; src/messages/store.ts), same C. */
async function sendStatementRate(
  pool: pg.Pool,
  config: Config,
  senders: BenchUser[],
  receivers: BenchUser[],
) {
  let n = 0;
  let count = 0;
  const body = randomBytes(BODY);
  const until = performance.now() + SECONDS * 1000;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: C }, async (_, w) => {
      const s = senders[w] as BenchUser;
      const to = (receivers[w] as BenchUser).username;
      while (performance.now() < until) {
        const out = await insertMessage(pool, {
          senderId: s.id,
          sessionId: s.sessionId,
          to,
          clientId: `st${++n}`,
          body,
          now: new Date(),
          bucket: config.messaging.send,
          mailboxCap: config.messaging.maxPendingMessages,
        });
        if (out.kind === 'stored') count++;
      }
    }),
  );
  return count / ((performance.now() - started) / 1000);
}

function post(agent: Agent, baseUrl: string, path: string, token: string, payload: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(`${baseUrl}${path}`, {
      method: 'POST',
      agent,
      headers: {
        authorization: `Bearer ${token}`,
        'content-type': 'application/json',
        'content-length': Buffer.byteLength(payload),
      },
    });
    req.on('response', (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    req.end(payload);
  });
}

function openSocket(baseUrl: string, token: string, onFrame?: (f: { type: string; body?: string }) => void) {
  return new Promise<WebSocket>((resolve, reject) => {
    const ws = new WebSocket(`${baseUrl.replace('http', 'ws')}/ws`, { origin: ORIGIN });
    const timer = setTimeout(() => reject(new Error('ws auth timed out')), 30_000);
    ws.once('error', reject);
    ws.once('open', () => ws.send(JSON.stringify({ type: 'auth', token })));
    ws.on('message', (data) => {
      const f = JSON.parse(data.toString());
      if (f.type === 'ready') {
        clearTimeout(timer);
        resolve(ws);
      } else onFrame?.(f);
    });
    ws.once('close', (code) => reject(new Error(`closed ${code}`)));
  });
}

/** Senders POST to `sendUrl`; receivers hold sockets on `recvUrl` (another process or the same). */
async function endToEnd(sendUrl: string, recvUrl: string, senders: BenchUser[], receivers: BenchUser[]) {
  const latencies: number[] = [];
  let received = 0;
  let lastReceive = 0;
  const sockets = await Promise.all(
    receivers.map((r) =>
      openSocket(recvUrl, r.token, (f) => {
        if (f.type !== 'message' || !f.body) return;
        const sentAt = Buffer.from(f.body, 'base64').readDoubleBE(0);
        lastReceive = performance.now();
        latencies.push(lastReceive - sentAt);
        received++;
      }),
    ),
  );
  const agent = new Agent({ keepAlive: true, maxSockets: C, noDelay: true } as ConstructorParameters<
    typeof Agent
  >[0]);
  const filler = randomBytes(BODY);
  let sent = 0;
  let failed = 0;
  let n = 0;
  const run = async (seconds: number, measure: boolean) => {
    const until = performance.now() + seconds * 1000;
    await Promise.all(
      senders.map(async (s, w) => {
        const to = (receivers[w] as BenchUser).username;
        while (performance.now() < until) {
          const body = Buffer.from(filler);
          body.writeDoubleBE(performance.now(), 0);
          const payload = JSON.stringify({ to, client_id: `m${++n}`, body: body.toString('base64') });
          const status = await post(agent, sendUrl, '/send_message', s.token, payload);
          if (measure) status === 201 ? sent++ : failed++;
        }
      }),
    );
  };
  await run(1, false); // warm-up: JIT, pool connections, plans
  await new Promise((r) => setTimeout(r, 500));
  latencies.length = 0;
  received = 0;
  const started = performance.now();
  await run(SECONDS, true);
  const sendEnd = performance.now();
  const drainDeadline = performance.now() + 15_000;
  while (received < sent && performance.now() < drainDeadline) await new Promise((r) => setTimeout(r, 20));
  const elapsed = (Math.max(lastReceive, sendEnd) - started) / 1000;
  for (const ws of sockets) ws.terminate();
  agent.destroy();
  latencies.sort((a, b) => a - b);
  return {
    sent,
    failed,
    received,
    acceptedPerSecond: sent / ((sendEnd - started) / 1000),
    deliveredPerSecond: received / elapsed,
    p50: percentile(latencies, 0.5),
    p99: percentile(latencies, 0.99),
  };
}

async function idleSockets(relay: Awaited<ReturnType<typeof startRelay>>, users: BenchUser[]) {
  await fetch(`${relay.baseUrl}/health`);
  const base = await relay.rss();
  const sockets: WebSocket[] = [];
  const open = async (from: number, to: number) => {
    for (let i = from; i < to; i += 250) {
      const batch = users.slice(i, Math.min(to, i + 250));
      sockets.push(...(await Promise.all(batch.map((u) => openSocket(relay.baseUrl, u.token)))));
    }
  };
  const half = Math.floor(users.length / 2);
  const t0 = performance.now();
  await open(0, half);
  await new Promise((r) => setTimeout(r, 2000));
  const rssHalf = await relay.rss();
  await open(half, users.length);
  const connectSeconds = (performance.now() - t0) / 1000;
  await new Promise((r) => setTimeout(r, 2000));
  const rssFull = await relay.rss();
  for (const ws of sockets) ws.terminate();
  return {
    sockets: sockets.length,
    connectSeconds,
    base,
    rssFull,
    perSocketSlope: (rssFull - rssHalf) / (users.length - half),
    perSocketTotal: (rssFull - base) / users.length,
  };
}

async function main() {
  const dir = mkdtempSync(join(tmpdir(), 'sd-relay-bench-'));
  chmodSync(dir, 0o711); // the embedded PostgreSQL runs as its own OS user and must traverse it
  console.log(`relay bench: C=${C}, ${SECONDS} s per phase, ${BODY}-byte bodies, ${SOCKETS} idle sockets`);
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
      LOG_LEVEL,
      JWT_SECRET: randomBytes(32).toString('base64'),
      TOTP_ENCRYPTION_KEY: randomBytes(32).toString('base64'),
      WS_ALLOWED_ORIGINS: ORIGIN,
      SEND_RATE_BURST: '10000',
      SEND_RATE_PER_SECOND: '1000',
    };
    const config = loadConfig(env);
    const pool = new pg.Pool({ connectionString: url, max: C });
    const senders = await makeUsers(pool, config, 's', C);
    const receivers = await makeUsers(pool, config, 'r', C);

    const ceiling = await rawInsertCeiling(pool, senders, receivers);
    console.log(`1. raw INSERT ceiling (pg, ${C} connections): ${fmt(ceiling)} rows/s`);
    await pool.query('TRUNCATE messages');
    const statement = await sendStatementRate(pool, config, senders, receivers);
    console.log(
      `   the relay's send statement alone (session + bucket + mailbox + stream seq + insert, one commit): ${fmt(statement)} rows/s = ` +
        `${fmt(statement / ceiling, 2)}× the ceiling`,
    );
    await pool.query('TRUNCATE messages, user_streams, token_buckets');

    const relay = await startRelay(env, await getPort({ host: '127.0.0.1' }));
    const cpuBefore = await relay.cpuMs();
    const e2e = await endToEnd(relay.baseUrl, relay.baseUrl, senders, receivers);
    const cpuPerMessage = ((await relay.cpuMs()) - cpuBefore) / Math.max(1, e2e.sent);
    await relay.stop();
    console.log(
      `2. relay end to end (${C} HTTP senders → ${C} WebSocket receivers): accepted ${fmt(e2e.acceptedPerSecond)}/s, ` +
        `delivered ${fmt(e2e.deliveredPerSecond)}/s = ${fmt(e2e.deliveredPerSecond / ceiling, 2)}× the ceiling ` +
        `(target ≥ 0.5×); latency p50 ${fmt(e2e.p50, 1)} ms, p99 ${fmt(e2e.p99, 1)} ms; ` +
        `${e2e.sent} sent, ${e2e.received} delivered, ${e2e.failed} failed; relay process CPU ` +
        `${fmt(cpuPerMessage, 2)} ms per message (warm-up included)`,
    );
    // The ceiling again, right after: on this shared machine it moves by 2x within minutes, so
    // the end-to-end ratio is also given against the mean of the two measurements around it.
    await pool.query('TRUNCATE messages, user_streams, token_buckets');
    const ceilingAfter = await rawInsertCeiling(pool, senders, receivers);
    const ceilingMean = (ceiling + ceilingAfter) / 2;
    console.log(
      `   raw INSERT ceiling measured again after phase 2: ${fmt(ceilingAfter)} rows/s; end to end against ` +
        `the mean of both (${fmt(ceilingMean)} rows/s): ${fmt(e2e.deliveredPerSecond / ceilingMean, 2)}×`,
    );

    // 2b. Across processes: senders on relay A, receivers on relay B, so every message travels
    // through NOTIFY and is read back from the database by B (no local fast path).
    await pool.query('TRUNCATE messages, user_streams, token_buckets');
    const relayA = await startRelay(env, await getPort({ host: '127.0.0.1' }));
    const relayB = await startRelay(env, await getPort({ host: '127.0.0.1' }));
    const cross = await endToEnd(relayA.baseUrl, relayB.baseUrl, senders, receivers);
    await relayA.stop();
    await relayB.stop();
    console.log(
      `   across two relay processes (send to A, push from B): delivered ${fmt(cross.deliveredPerSecond)}/s = ` +
        `${fmt(cross.deliveredPerSecond / ceiling, 2)}× the ceiling; latency p50 ${fmt(cross.p50, 1)} ms, ` +
        `p99 ${fmt(cross.p99, 1)} ms; ${cross.sent} sent, ${cross.received} delivered, ${cross.failed} failed`,
    );

    const idleUsers = await makeUsers(pool, config, 'w', SOCKETS);
    await pool.end();
    const fresh = await startRelay(
      { ...env, WS_HEARTBEAT_SECONDS: '30' },
      await getPort({ host: '127.0.0.1' }),
    );
    const idle = await idleSockets(fresh, idleUsers);
    await fresh.stop();
    console.log(
      `3. idle WebSockets: ${idle.sockets} authenticated sockets in one process (connected in ` +
        `${fmt(idle.connectSeconds, 1)} s); RSS ${fmt(idle.base / 2 ** 20, 1)} → ${fmt(idle.rssFull / 2 ** 20, 1)} MiB; ` +
        `${fmt(idle.perSocketSlope / 1024, 1)} KB per socket (slope K/2→K; target ≤ 15 KB), ` +
        `${fmt(idle.perSocketTotal / 1024, 1)} KB including start-up growth`,
    );
  } finally {
    await db.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
