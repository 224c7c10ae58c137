#!/usr/bin/env node
// `npm start`: install what is missing, build what changed, start the relay (embedded
// PostgreSQL under ./.data unless DATABASE_URL is set) and the Django host in front of it,
// wait until both answer, print the URL. Ctrl-C stops both cleanly.
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, statSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { join, resolve } from 'node:path';
import { BindError, bindPlan, portFree, probeAddress } from './lib/bind.mjs';
import { hashInputs, isStale, writeStamp } from './lib/stamp.mjs';
import { buildSteps, missingPieces, needsNpmCi, relayCommand } from './lib/workspace.mjs';
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

function runStep(what, cmd, args, opts = {}) {
  say(what);
  const r = spawnSync(cmd, args, { cwd: root, stdio: 'inherit', ...opts });
  if (r.status !== 0) throw new StartError(`${what} failed (exit ${r.status ?? r.signal})`);
}

function installNodeModules() {
  if (!needsNpmCi(root)) return;
  runStep('installing npm dependencies (npm ci)', 'npm', ['ci', '--no-audit', '--no-fund']);
}

function buildChanged() {
  for (const step of buildSteps(root)) {
    const stamp = join(stampDir, `build-${step.name}.sha256`);
    // Always a production build: an inherited NODE_ENV=development (e.g. for the relay) would
    // make Vite emit development React and a PWA that never registers its service worker.
    const hash = `${hashInputs(root, step.inputs)}:production`;
    if (!isStale(stamp, hash) && existsSync(join(root, step.output))) continue;
    runStep(`building ${step.name}`, 'npm', ['run', 'build', '-w', step.workspace], {
      env: { ...process.env, NODE_ENV: 'production' },
    });
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

/** Polls `url` until it answers 2xx, the child exits, or the deadline passes. */
async function waitHealthy(name, url, child, seconds) {
  const deadline = Date.now() + seconds * 1000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new StartError(
        `${name} exited during start-up (${child.exitCode ?? child.signalCode}); see its output above`,
      );
    }
    if ((await probe(url)) === true) return;
    await new Promise((r) => setTimeout(r, 300));
  }
  throw new StartError(`${name} did not become healthy at ${url} within ${seconds} s`);
}

function probe(url) {
  const request = url.startsWith('https:') ? httpsRequest : httpRequest;
  return new Promise((done) => {
    // The probe goes to our own child on loopback; its certificate may be self-signed.
    const req = request(url, { method: 'GET', timeout: 2000, rejectUnauthorized: false }, (res) => {
      res.resume();
      done(res.statusCode >= 200 && res.statusCode < 300);
    });
    req.on('error', () => done(false));
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
  children.push({ name, child });
  return child;
}

let stopping = false;
async function stopAll(code) {
  if (stopping) return;
  stopping = true;
  const alive = children.filter(({ child }) => child.exitCode === null && child.signalCode === null);
  if (alive.length) say(`stopping ${alive.map((c) => c.name).join(' and ')}…`);
  // The Django host first (it holds browser connections), then the relay, whose graceful
  // shutdown also stops the embedded PostgreSQL.
  for (const { child } of [...alive].reverse()) child.kill('SIGTERM');
  const exited = alive.map(({ child }) => new Promise((r) => child.once('exit', r)));
  const timer = setTimeout(() => {
    for (const { name, child } of alive) {
      if (child.exitCode === null && child.signalCode === null) {
        console.error(`✗ ${name} did not stop in 20 s; killing it`);
        child.kill('SIGKILL');
      }
    }
  }, 20_000);
  await Promise.all(exited);
  clearTimeout(timer);
  process.exit(code);
}

async function main() {
  checkNode();
  const plan = bindPlan(process.env);
  const missing = missingPieces(root);
  if (missing.length) {
    throw new StartError(
      `Secure Drop cannot start yet; missing:\n  - ${missing.join('\n  - ')}\n` +
        'These come from the relay and PWA work in progress; `npm test` runs what exists.',
    );
  }
  // Checked before installing and building, so a busy port is reported at once.
  const relayPort = Number(process.env.SECURE_DROP_RELAY_PORT || 3000);
  if (!Number.isInteger(relayPort) || relayPort < 1 || relayPort > 65535) {
    throw new StartError('SECURE_DROP_RELAY_PORT must be a port number 1-65535');
  }
  if (!(await portFree(plan.host, plan.port))) {
    throw new StartError(
      `port ${plan.port} on ${plan.host} is already in use: stop what holds it or set PORT`,
    );
  }
  if (!(await portFree('127.0.0.1', relayPort))) {
    throw new StartError(
      `the relay's port ${relayPort} on 127.0.0.1 is already in use: set SECURE_DROP_RELAY_PORT`,
    );
  }
  installNodeModules();
  let python;
  try {
    python = ensurePythonEnv({ log: say });
  } catch (err) {
    if (err instanceof PythonEnvError) throw new StartError(err.message);
    throw err;
  }
  buildChanged();

  const publicOrigins = [`http://localhost:${plan.port}`, `http://127.0.0.1:${plan.port}`, plan.url];
  if (process.env.SECURE_DROP_PUBLIC_ORIGIN) publicOrigins.push(process.env.SECURE_DROP_PUBLIC_ORIGIN);

  // The relay resolves a relative DATA_DIR from its own directory (its cwd).
  const dataDir = process.env.DATA_DIR ? resolve(root, 'relay', process.env.DATA_DIR) : join(root, '.data');
  if (!process.env.DATABASE_URL) prepareDataDir(dataDir);
  const relay = relayCommand(root);
  const relayEnv = { ...process.env };
  // HOST/PORT are the Django host's; the relay always stays on loopback behind it.
  relayEnv.HOST = '127.0.0.1';
  relayEnv.PORT = String(relayPort);
  relayEnv.WS_ALLOWED_ORIGINS = process.env.WS_ALLOWED_ORIGINS || [...new Set(publicOrigins)].join(',');
  const db = process.env.DATABASE_URL ? 'PostgreSQL from DATABASE_URL' : `embedded PostgreSQL in ${dataDir}`;
  say(`starting the relay on 127.0.0.1:${relayPort} (${db})`);
  const relayChild = launch('relay', relay.cmd, relay.args, { cwd: relay.cwd, env: relayEnv });
  await waitHealthy('the relay', `http://127.0.0.1:${relayPort}/health`, relayChild, 180);

  const uvicornArgs = [
    '-m',
    'uvicorn',
    'host.asgi:application',
    // uvicorn's h11 protocol with a request-head deadline and JSON errors (django-host/host/protocol.py).
    '--http',
    'host.protocol:GuardedH11Protocol',
    '--host',
    plan.host,
    '--port',
    String(plan.port),
    '--proxy-headers',
    '--forwarded-allow-ips',
    process.env.FORWARDED_ALLOW_IPS || '127.0.0.1',
    '--no-server-header',
    '--ws-max-size',
    String(1 << 20),
  ];
  if (plan.tls) uvicornArgs.push('--ssl-certfile', plan.tls.cert, '--ssl-keyfile', plan.tls.key);
  const hostEnv = {
    ...process.env,
    SECURE_DROP_RELAY_URL: `http://127.0.0.1:${relayPort}`,
    SECURE_DROP_PWA_DIST: process.env.SECURE_DROP_PWA_DIST || join(root, 'pwa/dist'),
  };
  say(`starting the Django host on ${plan.host}:${plan.port}`);
  const hostChild = launch('django-host', python, uvicornArgs, { cwd: hostDir, env: hostEnv });
  await waitHealthy(
    'the Django host',
    `${plan.scheme}://${probeAddress(plan.host)}:${plan.port}/healthz`,
    hostChild,
    60,
  );

  console.log(`\n  Secure Drop is running: ${plan.url}\n`);
  if (plan.behindProxy)
    console.log('  (open it through your TLS proxy; this port speaks plain HTTP to the proxy)\n');
  console.log('  Ctrl-C stops it.\n');

  for (const { name, child } of children) {
    child.on('exit', (code, signal) => {
      if (stopping) return;
      console.error(`✗ ${name} stopped unexpectedly (${code ?? signal}); stopping the rest`);
      void stopAll(1);
    });
  }
}

for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(signal, () => void stopAll(0));
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
