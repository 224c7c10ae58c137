#!/usr/bin/env node
// `npm start`: install what is missing, build what changed, start the relay (embedded
// PostgreSQL under ./.data unless DATABASE_URL is set) and the Django host in front of it,
// wait until both answer, print the URL. Ctrl-C, SIGTERM/SIGINT to this process or to npm's
// (package.json runs this script with `exec`, so npm's forwarded signal reaches it), or npm
// disappearing, stops all of it cleanly. DATA_DIR/npm-start.json records the run, so a second
// start names a run that is still serving instead of reporting a busy port.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, statSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { join, resolve } from 'node:path';
import {
  BindError,
  bindPlan,
  holdLoopbackV6,
  namesLocalhostOverIpv4,
  portFree,
  probeAddress,
} from './lib/bind.mjs';
import { hostServerArgs } from './lib/host-server.mjs';
import { formatDuration, runCaptured, tail } from './lib/progress.mjs';
import { earlierRun, removeLock, writeLock } from './lib/runlock.mjs';
import { hashInputs, isStale, writeStamp } from './lib/stamp.mjs';
import { buildSteps, dataDirOf, needsNpmCi, relayCommand } from './lib/workspace.mjs';
import { ensurePythonEnv, hostDir, PythonEnvError } from './python-env.mjs';

const root = resolve(import.meta.dirname, '..');
const stampDir = join(root, 'node_modules/.cache/secure-drop');
const say = (m) => console.log(`▸ ${m}`);

class StartError extends Error {}

function checkNode() {
  const [major, minor] = process.versions.node.split('.').map(Number);
  if (major < 20 || (major === 20 && minor < 19)) {
    throw new StartError(`Node.js ≥ 20.19 is required (this is ${process.versions.node})`);
  }
}

/** The build step running now, so a stop request can end it too. */
let stepChild = null;

/** One step: a progress line with the usual duration, its output kept unless it fails. */
async function runStep(what, usually, cmd, args, opts = {}) {
  say(`${what} (usually ${usually})…`);
  const r = await runCaptured(cmd, args, { cwd: root, ...opts }, (child) => {
    stepChild = child;
  });
  stepChild = null;
  if (stopping) return;
  if (r.code !== 0) {
    throw new StartError(`${what} failed (exit ${r.code ?? r.signal}); its output:\n${tail(r.output)}`);
  }
  console.log(`  done in ${formatDuration(r.ms)}`);
}

const BUILD_TIME = { 'crypto-core': '10–30 s', relay: '10–30 s', pwa: '20–60 s' };

async function installNodeModules() {
  if (!needsNpmCi(root)) return;
  await runStep('installing npm dependencies (npm ci)', '1–3 min', 'npm', ['ci', '--no-audit', '--no-fund']);
}

async function buildChanged() {
  for (const step of buildSteps(root)) {
    const stamp = join(stampDir, `build-${step.name}.sha256`);
    // Always a production build: an inherited NODE_ENV=development (e.g. for the relay) would
    // make Vite emit development React and a PWA that never registers its service worker.
    const hash = `${hashInputs(root, step.inputs)}:production`;
    if (!isStale(stamp, hash) && existsSync(join(root, step.output))) continue;
    await runStep(
      `building ${step.name}`,
      BUILD_TIME[step.name] ?? 'under a minute',
      'npm',
      ['run', 'build', '-w', step.workspace],
      { env: { ...process.env, NODE_ENV: 'production' } },
    );
    if (stopping) return;
    if (!existsSync(join(root, step.output))) {
      throw new StartError(`building ${step.name} did not produce ${step.output}`);
    }
    writeStamp(stamp, hash);
  }
}

/** The embedded PostgreSQL runs as its own OS user when we are root, and must be able to pass
 * through the data directory to reach its cluster: 0711 (traverse, not list). */
function prepareDataDir(dir) {
  mkdirSync(dir, { recursive: true, mode: 0o711 });
  if (process.getuid?.() === 0 && (statSync(dir).mode & 0o001) === 0) chmodSync(dir, 0o711);
}

/**
 * This run's ids, one per child (SECURE_DROP_RUN_ID): their health answers name it
 * (Secure-Drop-Run), and an answer that does not is another program's. The ports are found free
 * before installing and building, minutes earlier; a program that took one meanwhile would
 * otherwise pass for our child, and the child, failing to bind, would exit unseen. One id for
 * both would not do: the relay, serving first, tells its id to any local program that asks
 * GET /health, which could then answer for the host on a port taken meanwhile.
 */
const runIds = { relay: randomBytes(16).toString('hex'), host: randomBytes(16).toString('hex') };

/** A child that has exited, if any. */
const exitedChild = () => children.find(({ child }) => child.exitCode !== null || child.signalCode !== null);

/**
 * Polls `url` until our child answers it, any child exits, another program answers, or the
 * deadline passes.
 */
async function waitHealthy(name, url, runId, seconds) {
  const deadline = Date.now() + seconds * 1000;
  while (Date.now() < deadline) {
    const gone = exitedChild();
    if (gone) {
      const { exitCode, signalCode } = gone.child;
      throw new StartError(
        `${gone.name} exited during start-up (${exitCode ?? signalCode}); see its output above`,
      );
    }
    const answer = await probe(url, runId);
    if (answer === 'ours') return;
    if (answer === 'foreign')
      throw new StartError(
        `${name}: another program answers at ${url} (it took the port after this run found it free); ` +
          'stop it, or choose another port',
      );
    await new Promise((r) => setTimeout(r, 300));
  }
  throw new StartError(`${name} did not become healthy at ${url} within ${seconds} s`);
}

/** 'ours' (2xx naming this run), 'foreign' (any other answer), or 'none' (nothing listening yet). */
function probe(url, runId) {
  const request = url.startsWith('https:') ? httpsRequest : httpRequest;
  return new Promise((done) => {
    // The probe goes to our own child on loopback; its certificate may be self-signed.
    const req = request(url, { method: 'GET', timeout: 2000, rejectUnauthorized: false }, (res) => {
      res.resume();
      const ok = res.statusCode >= 200 && res.statusCode < 300;
      done(ok && res.headers['secure-drop-run'] === runId ? 'ours' : ok ? 'foreign' : 'none');
    });
    req.on('error', () => done('none'));
    req.on('timeout', () => req.destroy());
    req.end();
  });
}

const children = [];

function launch(name, cmd, args, opts) {
  // Own process group: a terminal's Ctrl-C reaches only this script, which then stops the
  // children once each, in order (a second signal would make uvicorn skip its graceful exit).
  const child = spawn(cmd, args, { stdio: 'inherit', detached: true, ...opts });
  child.on('error', (err) => console.error(`✗ cannot start ${name}: ${err.message}`));
  // Watched from the start: during start-up waitHealthy notices an exit (of any child), once
  // serving this does. Attached only after start-up, an exit in between went unseen.
  child.on('exit', (code, signal) => {
    if (stopping || !serving) return;
    console.error(`✗ ${name} stopped unexpectedly (${code ?? signal}); stopping the rest`);
    void stopAll(1);
  });
  children.push({ name, child });
  return child;
}

/** Start-up is over: from now on a child's exit stops the run (launch). */
let serving = false;

let stopping = false;
let dataDir = null;
const startedAt = new Date().toISOString();
async function stopAll(code) {
  if (stopping) return;
  stopping = true;
  stepChild?.kill('SIGTERM');
  const alive = children.filter(({ child }) => child.exitCode === null && child.signalCode === null);
  if (alive.length) say(`stopping ${alive.map((c) => c.name).join(' and ')}…`);
  // The Django host first (it holds browser connections), then the relay, whose graceful
  // shutdown also stops the embedded PostgreSQL.
  for (const { child } of [...alive].reverse()) child.kill('SIGTERM');
  const exited = alive.map(({ child }) => new Promise((r) => child.once('exit', r)));
  // The relay gives in-flight requests 5 s, then stops PostgreSQL (a fast shutdown).
  const timer = setTimeout(() => {
    for (const { name, child } of alive) {
      if (child.exitCode === null && child.signalCode === null) {
        console.error(`✗ ${name} did not stop in 15 s; killing it`);
        child.kill('SIGKILL');
      }
    }
  }, 15_000);
  await Promise.all(exited);
  clearTimeout(timer);
  if (dataDir) removeLock(dataDir);
  if (alive.length) say('stopped');
  process.exit(code);
}

function record(plan, relayPort, extra = {}) {
  writeLock(dataDir, {
    pid: process.pid,
    port: plan.port,
    host: plan.host,
    relayPort,
    relayPid: children.find((c) => c.name === 'relay')?.child.pid ?? null,
    hostPid: children.find((c) => c.name === 'django-host')?.child.pid ?? null,
    startedAt,
    ...extra,
  });
}

async function main() {
  checkNode();
  const plan = bindPlan(process.env);
  // Checked before installing and building, so a busy port is reported at once: first a run of
  // ours that is still serving from this data directory (named, with how to stop it).
  dataDir = dataDirOf(root);
  const earlier = earlierRun(dataDir);
  if (earlier) {
    dataDir = null; // not ours to remove
    throw new StartError(earlier);
  }
  const relayPort = Number(process.env.SECURE_DROP_RELAY_PORT || 3000);
  if (!Number.isInteger(relayPort) || relayPort < 1 || relayPort > 65535) {
    throw new StartError('SECURE_DROP_RELAY_PORT must be a port number 1-65535');
  }
  if (!(await portFree(plan.host, plan.port))) {
    throw new StartError(
      `port ${plan.port} on ${plan.host} is already in use by another program (not a Secure Drop run ` +
        `from ${dataDir}): stop what holds it or set PORT`,
    );
  }
  if (!(await portFree('127.0.0.1', relayPort))) {
    throw new StartError(
      `the relay's port ${relayPort} on 127.0.0.1 is already in use by another program: ` +
        'stop it or set SECURE_DROP_RELAY_PORT',
    );
  }
  // The address printed is localhost, which a browser tries over [::1] first: that port is held
  // now, for the whole run, and forwarded to the host, so no other program can answer there.
  if (namesLocalhostOverIpv4(plan))
    await holdLoopbackV6(plan.port, plan.host === 'localhost' ? '127.0.0.1' : plan.host);
  const setupStarted = Date.now();
  await installNodeModules();
  if (stopping) return;
  let python;
  try {
    python = ensurePythonEnv({
      quiet: true,
      log: (m) => say(/^installing/.test(m) ? `${m} (usually under a minute)…` : m),
    });
  } catch (err) {
    if (err instanceof PythonEnvError) throw new StartError(err.message);
    throw err;
  }
  await buildChanged();
  if (stopping) return;

  const publicOrigins = [`http://localhost:${plan.port}`, `http://127.0.0.1:${plan.port}`, plan.url];
  if (process.env.SECURE_DROP_PUBLIC_ORIGIN) publicOrigins.push(process.env.SECURE_DROP_PUBLIC_ORIGIN);

  prepareDataDir(dataDir);
  const relay = relayCommand(root);
  const relayEnv = { ...process.env };
  // HOST/PORT are the Django host's; the relay always stays on loopback behind it.
  relayEnv.HOST = '127.0.0.1';
  relayEnv.PORT = String(relayPort);
  relayEnv.WS_ALLOWED_ORIGINS = process.env.WS_ALLOWED_ORIGINS || [...new Set(publicOrigins)].join(',');
  // The relay's JSON log lines (one per request) are for operators; a person running `npm start`
  // sees warnings and errors only unless LOG_LEVEL says otherwise.
  relayEnv.LOG_LEVEL = process.env.LOG_LEVEL || 'warn';
  relayEnv.SECURE_DROP_RUN_ID = runIds.relay;
  const db = process.env.DATABASE_URL ? 'PostgreSQL from DATABASE_URL' : `embedded PostgreSQL in ${dataDir}`;
  say(`starting the relay on 127.0.0.1:${relayPort} (${db})`);
  launch('relay', relay.cmd, relay.args, { cwd: relay.cwd, env: relayEnv });
  record(plan, relayPort);
  await waitHealthy('the relay', `http://127.0.0.1:${relayPort}/health`, runIds.relay, 180);

  const uvicornArgs = hostServerArgs({
    host: plan.host,
    port: plan.port,
    forwardedAllowIps: process.env.FORWARDED_ALLOW_IPS || '127.0.0.1',
    logLevel: UVICORN_LOG_LEVEL[relayEnv.LOG_LEVEL] ?? 'warning',
  });
  if (plan.tls) uvicornArgs.push('--ssl-certfile', plan.tls.cert, '--ssl-keyfile', plan.tls.key);
  const hostEnv = {
    ...process.env,
    SECURE_DROP_RELAY_URL: `http://127.0.0.1:${relayPort}`,
    SECURE_DROP_PWA_DIST: process.env.SECURE_DROP_PWA_DIST || join(root, 'pwa/dist'),
    SECURE_DROP_RUN_ID: runIds.host,
  };
  say(`starting the Django host on ${plan.host}:${plan.port}`);
  launch('django-host', python, uvicornArgs, { cwd: hostDir, env: hostEnv });
  record(plan, relayPort);
  await waitHealthy(
    'the Django host',
    `${plan.scheme}://${probeAddress(plan.host)}:${plan.port}/healthz`,
    runIds.host,
    60,
  );
  serving = true;
  const gone = exitedChild();
  if (gone) throw new StartError(`${gone.name} exited during start-up; see its output above`);

  record(plan, relayPort, { readyAt: new Date().toISOString() });
  console.log(
    `\n  Secure Drop is running: ${plan.url}   (ready in ${formatDuration(Date.now() - setupStarted)})\n`,
  );
  if (plan.behindProxy)
    console.log('  (open it through your TLS proxy; this port speaks plain HTTP to the proxy)\n');
  console.log(`  Ctrl-C (or \`kill ${process.pid}\`) stops it.\n`);
}

/** uvicorn's --log-level for the relay's LOG_LEVEL (pino's names). */
const UVICORN_LOG_LEVEL = {
  trace: 'trace',
  debug: 'debug',
  info: 'info',
  warn: 'warning',
  error: 'error',
  fatal: 'critical',
  silent: 'critical',
};

for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(signal, () => void stopAll(0));
// Run by `npm start`, npm is this process's parent (exec). If npm stops without passing a signal
// on (SIGKILL), this process is re-parented: never keep serving without it. (Run directly, e.g.
// under nohup, the parent may go away on purpose, so only npm is watched.)
const parent = process.ppid;
const underNpm =
  process.env.npm_lifecycle_event === 'start' && /start\.mjs/.test(process.env.npm_lifecycle_script ?? '');
if (underNpm && parent > 1) {
  setInterval(() => {
    if (process.ppid !== parent) {
      console.error('✗ the process that started Secure Drop is gone; stopping');
      void stopAll(1);
    }
  }, 1000).unref();
}
// Last resort if this script dies of an error: never leave the children running.
process.on('exit', () => {
  for (const { child } of children)
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
});

main().catch((err) => {
  if (err instanceof StartError || err instanceof BindError) console.error(`✗ ${err.message}`);
  else console.error(err);
  void stopAll(1);
});
