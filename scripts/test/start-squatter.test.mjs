// A program that takes the relay's or the host's port after `npm start` found it free (the check
// runs before installing and building, which can take minutes) is never taken for Secure Drop:
// it answers the health check, but only the run's own children can prove they are its own
// (scripts/start.mjs, SECURE_DROP_RUN_ID). Before, the squatter's 200 counted as healthy, the
// child that then failed to bind its port went unnoticed, and "Secure Drop is running" was
// printed with every /api request (tokens, TOTP codes) going to the squatter. Likewise a program
// on [::1] at the port the printed URL (localhost) names, which browsers try first.
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, request } from 'node:http';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import getPort from 'get-port';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { isAlive } from '../lib/runlock.mjs';
import { launch, waitForOutput } from './processes.mjs';

const root = resolve(import.meta.dirname, '../..');
const dataDir = mkdtempSync(join(tmpdir(), 'sd-squatter-'));
const cleanups = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});
afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

/**
 * Answers 200 {"status":"ok"} to every request on 127.0.0.1:port, as a health check wants, with
 * the headers `headers()` gives.
 */
async function squat(port, headers = async () => ({})) {
  const server = createServer(async (_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json', ...(await headers()) });
    res.end('{"status":"ok"}');
  });
  await new Promise((done, fail) => {
    server.once('error', fail);
    server.listen({ host: '127.0.0.1', port, exclusive: true }, done);
  });
  cleanups.push(() => new Promise((done) => server.close(done)));
  return server;
}

async function startWithSquatter(after, portOf, headersOf) {
  const [port, relayPort] = [await getPort({ host: '127.0.0.1' }), await getPort({ host: '127.0.0.1' })];
  const run = launch('npm', ['start'], {
    cwd: root,
    env: {
      ...process.env,
      HOST: '',
      NODE_ENV: 'development',
      DATA_DIR: dataDir,
      PORT: String(port),
      SECURE_DROP_RELAY_PORT: String(relayPort),
    },
  });
  cleanups.push(async () => {
    if (isAlive(run.child.pid)) run.child.kill('SIGTERM');
    await run.exited;
  });
  await waitForOutput(run, after, 280_000);
  await squat(portOf({ port, relayPort }), headersOf?.({ port, relayPort }));
  // The run ends, with an error, instead of serving: never "Secure Drop is running".
  const ended = await Promise.race([
    run.exited,
    waitForOutput(run, 'Secure Drop is running', 280_000).then(() => 'serving'),
  ]);
  return { run, ended };
}

describe('npm start with a squatter on its ports', { timeout: 300_000 }, () => {
  it('the relay’s port taken after the check: the run stops with an error, it does not serve', async () => {
    const { run, ended } = await startWithSquatter('starting the relay on', (p) => p.relayPort);
    expect(ended, run.output.slice(-2000)).not.toBe('serving');
    expect(ended.code).not.toBe(0);
    expect(run.output).toMatch(/✗ the relay/);
  });

  it('the host’s port taken after the check: the run stops with an error, it does not serve', async () => {
    const { run, ended } = await startWithSquatter('starting the Django host on', (p) => p.port);
    expect(ended, run.output.slice(-2000)).not.toBe('serving');
    expect(ended.code).not.toBe(0);
    expect(run.output).toMatch(/✗ the Django host/);
  });

  it('the host’s port taken by a program that asks the running relay for the run’s id: not taken for the host', async () => {
    // The relay serves first, and GET /health names its id to any local program: one id for the
    // whole run let such a program answer the host's health check as the host.
    const relayId = async (relayPort) =>
      new Promise((done) => {
        const req = request(`http://127.0.0.1:${relayPort}/health`, (res) => {
          res.resume();
          done(res.headers['secure-drop-run']);
        });
        req.on('error', () => done(undefined));
        req.end();
      });
    const { run, ended } = await startWithSquatter(
      'starting the Django host on',
      (p) => p.port,
      (p) => async () => {
        const id = await relayId(p.relayPort);
        return id ? { 'secure-drop-run': id } : {};
      },
    );
    expect(ended, run.output.slice(-2000)).not.toBe('serving');
    expect(ended.code).not.toBe(0);
    expect(run.output).toMatch(/✗ the Django host/);
  });

  it('a program on [::1] at the port the URL names (localhost): the start stops at once, naming it', async (ctx) => {
    // A browser opens http://localhost:PORT over [::1] first; the host listens on 127.0.0.1, and
    // every check was made there, so such a program got the browser's requests unnoticed.
    const port = await getPort({ host: '127.0.0.1' });
    const squatter = createServer((_req, res) => res.end('{"status":"ok"}'));
    const listening = await new Promise((done) => {
      squatter.once('error', () => done(false));
      squatter.listen({ host: '::1', port, ipv6Only: true, exclusive: true }, () => done(true));
    });
    if (!listening) ctx.skip(); // no IPv6 loopback (or the port taken there): nothing to squat
    cleanups.push(() => new Promise((done) => squatter.close(done)));
    const run = launch('npm', ['start'], {
      cwd: root,
      env: {
        ...process.env,
        HOST: '',
        NODE_ENV: 'development',
        DATA_DIR: dataDir,
        PORT: String(port),
        SECURE_DROP_RELAY_PORT: String(await getPort({ host: '127.0.0.1' })),
      },
    });
    cleanups.push(async () => {
      if (isAlive(run.child.pid)) run.child.kill('SIGTERM');
      await run.exited;
    });
    const ended = await Promise.race([
      run.exited,
      waitForOutput(run, 'Secure Drop is running', 280_000).then(() => 'serving'),
    ]);
    expect(ended, run.output.slice(-2000)).not.toBe('serving');
    expect(ended.code).not.toBe(0);
    expect(run.output).toMatch(/✗ port \d+ on \[::1\] is already in use by another program/);
  });
});
