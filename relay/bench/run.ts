// `npm run bench -w relay`: the relay against a real (embedded) PostgreSQL, in one run.
//  1. Ceiling: single-row INSERTs into `messages` with `pg` at concurrency C (autocommit, a
//     prepared statement), and the relay's own send statement alone at the same C. Then the
//     batch statement alone as group commit runs it for C senders with one send in flight each
//     (one batch of C per round, or two of C/2 at once): what bounds that phase of (2).
//  2. End to end, one relay child process: C senders to C receivers connected over WebSocket;
//     the senders over HTTP POST /send_message (keep-alive), then over WebSocket send frames.
//     Delivered messages/s as a ratio of (1), p50/p99 latency from the send call to the push,
//     relay CPU per delivered message, and every id acknowledged to a sender checked off at
//     its receiver (lost, duplicated). The ceiling is measured again after.
//     Then the WebSocket path with 8 sends in flight per sender (group commit gets batches),
//     and with 8C senders, one send in flight each; both against the raw INSERT ceiling with
//     as many INSERTs in flight (8C connections).
//  3. The WebSocket path paced at half of its peak from (2): the latency at that load.
//  4. 2 and 4 relay processes, WebSocket path, each receiver on another process than its sender.
//  5. Idle WebSockets: K authenticated sockets held open on a fresh relay process; memory per
//     socket from the process RSS (slope between K/2 and K, so start-up allocations cancel).
//  6. Linked devices: the WebSocket path of (2) with 2 devices per user against 1 — each send
//     carries a copy per recipient device and a sync copy for the sender's other device
//     (spec/openapi.yaml POST /send_message), every device's socket is connected, and every copy
//     acknowledged to a sender is checked off at its device.
// Loopback only; every phase is bounded in count and time. Settings (env): BENCH_CONCURRENCY
// (10), BENCH_SECONDS (10), BENCH_BODY_BYTES (256), BENCH_WS_SOCKETS (10000; at most ~19,000
// here: ulimit -n is 20,000 per process), BENCH_LOG_LEVEL (warn), BENCH_ONLY (`devices`: only
// the ceiling and phase 6; `ws`: only the ceiling, the WebSocket path of (2) with one send in
// flight per sender, and (3); `scale`: only the ceiling and (4) with 1, 2 and 4 processes).
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
import { GROUP_COMMIT_MAX_ROWS } from '../src/messages/group-commit.js';
import { insertMessage, insertMessages, type SendInput } from '../src/messages/store.js';
import { type BenchUser, makeUsers, processCpuMs, type RelayProcess, startRelay } from './fixtures.js';

const C = Number(process.env.BENCH_CONCURRENCY ?? 10);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);
const BODY = Number(process.env.BENCH_BODY_BYTES ?? 256);
const SOCKETS = Math.min(Number(process.env.BENCH_WS_SOCKETS ?? 10_000), 19_000);
const LOG_LEVEL = process.env.BENCH_LOG_LEVEL ?? 'warn';
const ONLY = process.env.BENCH_ONLY;
const ORIGIN = 'http://bench.local';

const percentile = (sorted: number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] ?? 0;
const fmt = (n: number, d = 0) =>
  n.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d });

async function rawInsertCeiling(
  pool: pg.Pool,
  senders: BenchUser[],
  receivers: BenchUser[],
  /** INSERTs in flight (one connection each); senders and receivers are reused round-robin. */
  workers = C,
): Promise<number> {
  let seq = 0;
  let count = 0;
  const body = randomBytes(BODY);
  const until = performance.now() + SECONDS * 1000;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: workers }, async (_, w) => {
      const s = senders[w % senders.length] as BenchUser;
      const r = receivers[w % receivers.length] as BenchUser;
      while (performance.now() < until) {
        const n = ++seq;
        // Named, so each connection parses and plans it once, as the relay's statements are:
        // an unnamed INSERT is parsed and planned every time, a handicap for the baseline.
        await pool.query({
          name: 'raw_insert',
          text: `INSERT INTO messages (sender_id, receiver_id, client_id, seq, message_encrypted,
                                       receiver_device_id, sender_device_id, own, first_copy)
                 VALUES ($1, $2, $3, $4, $5, 1, 1, false, true)`,
          values: [s.id, r.id, `raw${n}`, n, body],
        });
        count++;
      }
    }),
  );
  return count / ((performance.now() - started) / 1000);
}

/** A send of one copy to device 1 of `to`, as the relay's service would hand it to the store. */
function oneCopySend(config: Config, s: BenchUser, to: string, clientId: string, body: Buffer): SendInput {
  return {
    senderId: s.id,
    sessionId: s.sessionId,
    to,
    clientId,
    copies: [{ deviceId: 1, own: false, body }],
    now: new Date(),
    bucket: config.messaging.send,
    mailboxCap: config.messaging.maxPendingMessages,
  };
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
        const out = await insertMessage(pool, oneCopySend(config, s, to, `st${++n}`, body));
        if (out.kind === 'stored') count++;
      }
    }),
  );
  return count / ((performance.now() - started) / 1000);
}

/**
 * The relay's batch statement as group commit runs it for C senders that each wait for their
 * answer: each round's C sends (at most GROUP_COMMIT_MAX_ROWS) in one batch, or split over
 * `lanes` batches running at once on as many connections (src/messages/group-commit.ts allows
 * two). BATCH_ROUNDS rounds back to back, nothing else running: the mean batch latency, the
 * PostgreSQL backends' CPU per batch, and sends per second. A round of the WebSocket phase with
 * one send in flight per sender waits for its batch, so while group commit forms rounds this
 * way, these rates bound that phase before any relay or client time.
 */
async function batchRounds(
  pool: pg.Pool,
  config: Config,
  senders: BenchUser[],
  receivers: BenchUser[],
  lanes: number,
) {
  const BATCH_ROUNDS = 300;
  const perRound = Math.min(C, GROUP_COMMIT_MAX_ROWS);
  const body = randomBytes(BODY);
  const clients = await Promise.all(Array.from({ length: lanes }, () => pool.connect()));
  try {
    const pids = await Promise.all(
      clients.map(async (c) => Number((await c.query('SELECT pg_backend_pid() AS pid')).rows[0].pid)),
    );
    const cpu = async () => (await Promise.all(pids.map(processCpuMs))).reduce((x, y) => x + y, 0);
    let n = 0;
    let latency = 0;
    const cpuBefore = await cpu();
    const started = performance.now();
    await Promise.all(
      clients.map(async (client, lane) => {
        // Lane `lane` takes every lanes-th sender, so no sender is in two batches at once.
        const mine = senders
          .slice(0, perRound)
          .map((s, w) => ({ s, to: (receivers[w] as BenchUser).username }))
          .filter((_, w) => w % lanes === lane);
        for (let r = 0; r < BATCH_ROUNDS; r++) {
          const batch = mine.map(({ s, to }) => oneCopySend(config, s, to, `bl${++n}`, body));
          const t = performance.now();
          const out = await insertMessages(client, batch);
          latency += performance.now() - t;
          if (out.some((o) => o.kind !== 'stored')) throw new Error('a bench batch was not stored whole');
        }
      }),
    );
    const seconds = (performance.now() - started) / 1000;
    const batches = BATCH_ROUNDS * lanes;
    return {
      perBatch: perRound / lanes,
      meanMs: latency / batches,
      cpuMs: ((await cpu()) - cpuBefore) / batches,
      sendsPerSecond: (BATCH_ROUNDS * perRound) / seconds,
    };
  } finally {
    for (const c of clients) c.release();
  }
}

function post(
  agent: Agent,
  baseUrl: string,
  path: string,
  token: string,
  payload: string,
): Promise<{ status: number; id?: number }> {
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
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const status = res.statusCode ?? 0;
        let id: number | undefined;
        try {
          id = JSON.parse(Buffer.concat(chunks).toString()).id;
        } catch {
          id = undefined;
        }
        resolve({ status, id });
      });
    });
    req.on('error', reject);
    req.end(payload);
  });
}

function openSocket(baseUrl: string, token: string, onFrame?: (f: BenchFrame) => void) {
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

interface BenchFrame {
  type: string;
  id?: number;
  body?: string | { id?: number; copies?: { id: number }[] };
  status?: number;
}

/** A sender's authenticated socket: send frames answered by response frames (spec/ws-frames.schema.json). */
async function wsSender(baseUrl: string, token: string) {
  const waiting = new Map<number, (f: BenchFrame) => void>();
  let next = 0;
  const ws = await openSocket(baseUrl, token, (f) => {
    if (f.type === 'response' && f.id !== undefined) waiting.get(f.id)?.(f);
  });
  return {
    ws,
    send(message: unknown): Promise<BenchFrame> {
      const id = ++next;
      return new Promise((resolve) => {
        waiting.set(id, (f) => {
          waiting.delete(id);
          resolve(f);
        });
        ws.send(JSON.stringify({ type: 'send', id, message }));
      });
    },
  };
}

type Mode = 'http' | 'ws';

/**
 * C senders (over `mode`) to C receivers on WebSocket; sender w uses relays[w % N], receiver w
 * relays[(w + 1) % N] (with N > 1 every message crosses processes through NOTIFY). `rate`
 * (messages/s in total) paces the senders; without it each sends as fast as its answers come.
 * Every id acknowledged to a sender is checked off at its receiver: lost and duplicated counted.
 */
async function endToEnd(
  mode: Mode,
  relays: RelayProcess[],
  senders: BenchUser[],
  receivers: BenchUser[],
  rate?: number,
  /** Sends each sender keeps in flight (WebSocket only; 1 = wait for each answer). */
  inFlight = 1,
  /** Devices per user (phase 6): receivers' and senders' devices 2… are connected too. */
  devices = 1,
) {
  const latencies: number[] = [];
  let received = 0;
  let duplicated = 0;
  let lastReceive = 0;
  const seen = new Set<number>();
  const acked = new Set<number>();
  let counting = false;
  const url = (i: number) => (relays[i % relays.length] as RelayProcess).baseUrl;
  const cpu = async () => (await Promise.all(relays.map((r) => r.cpuMs()))).reduce((x, y) => x + y, 0);
  // Every device that gets copies: each receiver's devices, and the senders' other devices (sync).
  const targets: { token: string; w: number }[] = [
    ...receivers.map((r, w) => ({ token: r.token, w })),
    ...receivers.flatMap((r, w) => r.linked.slice(0, devices - 1).map((d) => ({ token: d.token, w }))),
    ...senders.flatMap((s, w) => s.linked.slice(0, devices - 1).map((d) => ({ token: d.token, w }))),
  ];
  const sockets = await Promise.all(
    targets.map(({ token, w }) =>
      openSocket(url(relays.length > 1 ? w + 1 : w), token, (f) => {
        if (f.type !== 'message' || typeof f.body !== 'string' || f.id === undefined) return;
        if (seen.has(f.id)) duplicated++;
        seen.add(f.id);
        if (!counting) return;
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
  const wsSenders = mode === 'ws' ? await Promise.all(senders.map((s, w) => wsSender(url(w), s.token))) : [];
  const filler = randomBytes(BODY);
  let sent = 0;
  let sends = 0;
  let failed = 0;
  let n = 0;
  const run = async (seconds: number, measure: boolean) => {
    const until = performance.now() + seconds * 1000;
    const interval = rate ? (1000 * senders.length) / rate : 0;
    const loop = async (s: BenchUser, w: number) => {
      const to = (receivers[w] as BenchUser).username;
      let due = performance.now() + (interval * w) / senders.length;
      while (performance.now() < until) {
        if (interval) {
          const wait = due - performance.now();
          if (wait > 0) await new Promise((r) => setTimeout(r, wait));
          due += interval;
        }
        const body = Buffer.from(filler);
        body.writeDoubleBE(performance.now(), 0);
        const b = body.toString('base64');
        const deviceIds = Array.from({ length: devices }, (_, i) => i + 1);
        const message = {
          to,
          client_id: `m${++n}`,
          messages: deviceIds.map((device_id) => ({ device_id, body: b })),
          own: deviceIds.slice(1).map((device_id) => ({ device_id, body: b })),
        };
        let status: number;
        let ids: number[] = [];
        if (mode === 'ws') {
          const r = await (wsSenders[w] as Awaited<ReturnType<typeof wsSender>>).send(message);
          status = r.status ?? 0;
          // Every copy's id: each is checked off at its device.
          ids = typeof r.body === 'object' ? (r.body.copies ?? []).map((c) => c.id) : [];
        } else {
          const r = await post(agent, url(w), '/send_message', s.token, JSON.stringify(message));
          status = r.status;
          ids = r.id === undefined ? [] : [r.id];
        }
        if (status === 201) for (const id of ids) acked.add(id);
        if (measure && status === 201) {
          sends++;
          sent += ids.length;
        } else if (measure) failed++;
      }
    };
    await Promise.all(senders.flatMap((s, w) => Array.from({ length: inFlight }, () => loop(s, w))));
  };
  await run(1, false); // warm-up: JIT, pool connections, plans
  await new Promise((r) => setTimeout(r, 500));
  latencies.length = 0;
  received = 0;
  counting = true;
  const cpuBefore = await cpu();
  const started = performance.now();
  await run(SECONDS, true);
  const sendEnd = performance.now();
  const drainDeadline = performance.now() + 15_000;
  while (received < sent && performance.now() < drainDeadline) await new Promise((r) => setTimeout(r, 20));
  const elapsed = (Math.max(lastReceive, sendEnd) - started) / 1000;
  const cpuMs = (await cpu()) - cpuBefore;
  // Anything still in flight gets a moment more before the loss check.
  const lossDeadline = performance.now() + 5_000;
  const lostNow = () => [...acked].filter((id) => !seen.has(id)).length;
  while (lostNow() > 0 && performance.now() < lossDeadline) await new Promise((r) => setTimeout(r, 50));
  for (const ws of sockets) ws.terminate();
  for (const x of wsSenders) x.ws.terminate();
  agent.destroy();
  latencies.sort((a, b) => a - b);
  return {
    sent,
    failed,
    received,
    lost: lostNow(),
    duplicated,
    acceptedPerSecond: sent / ((sendEnd - started) / 1000),
    /** Sends accepted per second (each carries one copy per target device). */
    sendsPerSecond: sends / ((sendEnd - started) / 1000),
    deliveredPerSecond: received / elapsed,
    /** Relay CPU (all processes) per delivered message, ms. */
    cpuPerMessage: cpuMs / Math.max(1, received),
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

type E2E = Awaited<ReturnType<typeof endToEnd>>;

/**
 * Phase 6: one relay, C senders over WebSocket send frames, users with 1 device against users
 * with 2 (a copy per recipient device and a sync copy per other own device: 3 copies a send).
 */
async function linkedDevices(
  pool: pg.Pool,
  config: Config,
  senders: BenchUser[],
  receivers: BenchUser[],
  line: (label: string, e: E2E) => void,
  reset: () => Promise<unknown>,
  withRelays: <T>(k: number, fn: (relays: RelayProcess[]) => Promise<T>) => Promise<T>,
) {
  await reset();
  const one = await withRelays(1, (r) => endToEnd('ws', r, senders, receivers));
  line('6. linked devices: one relay, WebSocket, 1 device per user', one);
  const senders2 = await makeUsers(pool, config, 'ds', C, 2);
  const receivers2 = await makeUsers(pool, config, 'dr', C, 2);
  await reset();
  const two = await withRelays(1, (r) => endToEnd('ws', r, senders2, receivers2, undefined, 1, 2));
  line('   2 devices per user (3 copies a send: 2 recipient devices + 1 sync copy)', two);
  console.log(
    `   sends/s: ${fmt(one.sendsPerSecond)} (1 device) → ${fmt(two.sendsPerSecond)} (2 devices) = ` +
      `${fmt(two.sendsPerSecond / Math.max(1, one.sendsPerSecond), 2)}×; copies delivered/s ` +
      `${fmt(one.deliveredPerSecond)} → ${fmt(two.deliveredPerSecond)} = ` +
      `${fmt(two.deliveredPerSecond / Math.max(1, one.deliveredPerSecond), 2)}×; relay CPU per send ` +
      `${fmt(one.cpuPerMessage, 3)} → ${fmt(two.cpuPerMessage * 3, 3)} ms`,
  );
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
      // Every simulated client connects from 127.0.0.1: the per-address caps would stop the
      // idle-socket phase at 256 sockets.
      WS_MAX_CONNECTIONS_PER_IP: '1000000',
      HTTP_MAX_REQUESTS_PER_IP: '1000000',
      // The idle-socket phase holds SOCKETS at once, up to 19,000: past the default, which keeps a
      // quarter of the open-file limit free (src/http/max-connections.ts).
      HTTP_MAX_CONNECTIONS: String(SOCKETS + 1000),
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
    for (const lanes of [1, 2]) {
      const b = await batchRounds(pool, config, senders, receivers, lanes);
      await pool.query('TRUNCATE messages, user_streams, token_buckets');
      console.log(
        `   ${lanes === 1 ? 'one batch' : `${lanes} batches`} of ${fmt(b.perBatch, Number.isInteger(b.perBatch) ? 0 : 1)} sends at a time ` +
          `(the relay's batch statement, back to back on ${lanes === 1 ? 'one connection' : `${lanes} connections`}): ` +
          `mean ${fmt(b.meanMs, 2)} ms, ${fmt(b.cpuMs, 2)} ms of backend CPU per batch; ${fmt(b.sendsPerSecond)} sends/s = ` +
          `${fmt(b.sendsPerSecond / ceiling, 2)}× the ceiling` +
          (lanes === 1
            ? ': the most rounds of one batch allow, before any relay or client time'
            : ': rounds split over both batch slots, before any relay or client time'),
      );
    }

    const line = (label: string, e: Awaited<ReturnType<typeof endToEnd>>, base = ceiling) =>
      console.log(
        `${label}: accepted ${fmt(e.acceptedPerSecond)}/s, delivered ${fmt(e.deliveredPerSecond)}/s = ` +
          `${fmt(e.deliveredPerSecond / base, 2)}× the ceiling; latency p50 ${fmt(e.p50, 1)} ms, p99 ${fmt(e.p99, 1)} ms; ` +
          `relay CPU ${fmt(e.cpuPerMessage, 3)} ms per delivered message; ${e.sent} sent, ${e.received} delivered, ` +
          `${e.failed} failed, ${e.lost} lost, ${e.duplicated} duplicated`,
      );
    const reset = () => pool.query('TRUNCATE messages, user_streams, token_buckets');
    const withRelays = async <T>(k: number, fn: (relays: RelayProcess[]) => Promise<T>): Promise<T> => {
      const relays: RelayProcess[] = [];
      for (let i = 0; i < k; i++) relays.push(await startRelay(env, await getPort({ host: '127.0.0.1' })));
      try {
        return await fn(relays);
      } finally {
        await Promise.all(relays.map((r) => r.stop()));
      }
    };

    if (ONLY === 'devices') {
      await linkedDevices(pool, config, senders, receivers, line, reset, withRelays);
      await pool.end();
      return;
    }

    // The phases that BENCH_ONLY can also run alone.
    const wsOneInFlight = async () => {
      const e = await withRelays(1, (r) => endToEnd('ws', r, senders, receivers));
      line(`   one relay, ${C} senders over WebSocket send frames`, e);
      return e;
    };
    // 3. Latency at half of the WebSocket peak (paced senders), one process.
    const halfPeak = async (peak: number) => {
      await reset();
      const half = peak / 2;
      const paced = await withRelays(1, (r) => endToEnd('ws', r, senders, receivers, half));
      line(`3. one relay, WebSocket, paced at half the peak (${fmt(half)}/s)`, paced);
    };
    // 4. Scaling: every message crossing processes (LISTEN/NOTIFY, small copies carried whole).
    const scaling = async (processes: number[]) => {
      for (const k of processes) {
        await reset();
        const e = await withRelays(k, (r) => endToEnd('ws', r, senders, receivers));
        line(`4. ${k} relay processes, WebSocket, receivers on another process than their senders`, e);
      }
    };
    if (ONLY === 'scale' || ONLY === 'ws') {
      if (ONLY === 'scale') await scaling([1, 2, 4]);
      else await halfPeak((await wsOneInFlight()).deliveredPerSecond);
      await pool.end();
      return;
    }

    // 2. One relay process, C senders → C receivers on WebSocket: over HTTP, then over the socket.
    const http1 = await withRelays(1, (r) => endToEnd('http', r, senders, receivers));
    line(`2. one relay, ${C} senders over HTTP POST /send_message`, http1);
    await reset();
    const ws1 = await wsOneInFlight();
    await reset();
    const deep = await withRelays(1, (r) => endToEnd('ws', r, senders, receivers, undefined, 8));
    line(`   one relay, ${C} senders over WebSocket with 8 sends in flight each (${8 * C} in all)`, deep);
    // The same number of INSERTs in flight, one connection each: the ceiling at the concurrency
    // of the phase above (PostgreSQL's own group commit gathers more commits per flush there).
    // And as many senders with one send in flight each: the relay serving 8C users at once.
    await reset();
    const manySenders = await makeUsers(pool, config, 'ms', 8 * C);
    const manyReceivers = await makeUsers(pool, config, 'mr', 8 * C);
    const many = await withRelays(1, (r) => endToEnd('ws', r, manySenders, manyReceivers));
    await reset();
    const deepPool = new pg.Pool({ connectionString: url, max: 8 * C });
    const deepCeiling = await rawInsertCeiling(deepPool, senders, receivers, 8 * C);
    await deepPool.end();
    line(`   one relay, ${8 * C} senders over WebSocket, one send in flight each`, many, deepCeiling);
    console.log(
      `   raw INSERT ceiling with ${8 * C} in flight (${8 * C} connections): ${fmt(deepCeiling)} rows/s ` +
        `(the base of the line above); ${C} senders with 8 in flight each = ` +
        `${fmt(deep.deliveredPerSecond / deepCeiling, 2)}× of it`,
    );
    // The ceiling again, right after: on this shared machine it moves by 2x within minutes, so
    // the end-to-end ratios are also given against the mean of the two measurements around them.
    await reset();
    const ceilingAfter = await rawInsertCeiling(pool, senders, receivers);
    const ceilingMean = (ceiling + ceilingAfter) / 2;
    console.log(
      `   raw INSERT ceiling measured again: ${fmt(ceilingAfter)} rows/s; against the mean of both ` +
        `(${fmt(ceilingMean)} rows/s): WebSocket ${fmt(ws1.deliveredPerSecond / ceilingMean, 2)}×, ` +
        `HTTP ${fmt(http1.deliveredPerSecond / ceilingMean, 2)}×`,
    );

    await halfPeak(ws1.deliveredPerSecond);
    await scaling([2, 4]);
    await reset();

    // 6 (run before 5, which ends the pool): linked devices.
    await linkedDevices(pool, config, senders, receivers, line, reset, withRelays);
    await reset();

    const idleUsers = await makeUsers(pool, config, 'w', SOCKETS);
    await pool.end();
    const fresh = await startRelay(
      { ...env, WS_HEARTBEAT_SECONDS: '30' },
      await getPort({ host: '127.0.0.1' }),
    );
    const idle = await idleSockets(fresh, idleUsers);
    await fresh.stop();
    console.log(
      `5. idle WebSockets: ${idle.sockets} authenticated sockets in one process (connected in ` +
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
