// Stopping `npm start` (scripts/start.mjs, run by npm with `exec`): SIGTERM or SIGINT to npm's
// own process, SIGTERM to the pid start.mjs prints, and npm killed outright all stop the relay,
// its embedded PostgreSQL and uvicorn within seconds, leave the ports free and remove the run
// record; while a run serves, a second start names it instead of reporting a busy port.
// One data directory for every case, so PostgreSQL is initialised once.
import { mkdtempSync, rmSync } from 'node:fs';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import getPort from 'get-port';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import { isAlive, readLock, readPostmaster } from '../lib/runlock.mjs';
import { launch, waitForOutput } from './processes.mjs';

const root = resolve(import.meta.dirname, '../..');
const dataDir = mkdtempSync(join(tmpdir(), 'sd-signals-'));
const started = [];

// A failed case must not leave its run serving into the next one.
const killLeftovers = () => {
  for (const pid of started.splice(0).flat()) if (isAlive(pid)) process.kill(pid, 'SIGKILL');
};
afterEach(killLeftovers);
afterAll(() => {
  killLeftovers();
  rmSync(dataDir, { recursive: true, force: true });
});

/** Whether something accepts connections on 127.0.0.1:port. */
function listening(port) {
  return new Promise((done) => {
    const socket = createConnection({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      done(true);
    });
    socket.once('error', () => done(false));
  });
}

function start(cmd, args, env) {
  return launch(cmd, args, {
    cwd: root,
    env: { ...process.env, HOST: '', NODE_ENV: 'development', DATA_DIR: dataDir, ...env },
  });
}

async function startServing() {
  const [port, relayPort] = [await getPort({ host: '127.0.0.1' }), await getPort({ host: '127.0.0.1' })];
  const run = start('npm', ['start'], { PORT: String(port), SECURE_DROP_RELAY_PORT: String(relayPort) });
  // The last line start.mjs prints once serving (after "Secure Drop is running").
  await waitForOutput(run, 'stops it.', 280_000);
  const lock = readLock(dataDir);
  const pg = readPostmaster(join(dataDir, 'postgres', 'data'));
  const pids = { npm: run.child.pid, start: lock.pid, relay: lock.relayPid, host: lock.hostPid, pg: pg?.pid };
  expect(
    Object.values(pids).every((pid) => Number.isInteger(pid) && isAlive(pid)),
    JSON.stringify(pids),
  ).toBe(true);
  expect(run.output).toContain(`kill ${lock.pid}`);
  started.push(Object.values(pids));
  return { run, port, relayPort, pids };
}

async function expectAllStopped({ run, port, relayPort, pids }, sentAt) {
  await run.exited;
  // Every process of the run is gone within seconds of the signal, and nothing serves.
  await vi.waitFor(
    () => {
      for (const [name, pid] of Object.entries(pids))
        expect(isAlive(pid), `${name} (pid ${pid})`).toBe(false);
      expect(run.output).toContain('▸ stopped');
    },
    { timeout: 20_000, interval: 100 },
  );
  expect(Date.now() - sentAt).toBeLessThan(20_000);
  expect(await listening(port)).toBe(false);
  expect(await listening(relayPort)).toBe(false);
  expect(readLock(dataDir)).toBeNull();
}

describe('npm start stops everything it started', { timeout: 300_000 }, () => {
  it('SIGTERM to npm: and a second start meanwhile names the run still serving', async () => {
    const serving = await startServing();
    const second = start(process.execPath, ['scripts/start.mjs'], {
      PORT: String(serving.port),
      SECURE_DROP_RELAY_PORT: String(serving.relayPort),
    });
    expect((await second.exited).code).toBe(1);
    expect(second.output).toContain(
      `Secure Drop from an earlier run (pid ${serving.pids.start}) is still serving on port ${serving.port}`,
    );
    expect(second.output).toContain(`kill ${serving.pids.start}`);
    expect(second.output).not.toMatch(/already in use/);

    const sentAt = Date.now();
    process.kill(serving.pids.npm, 'SIGTERM');
    await expectAllStopped(serving, sentAt);
    expect((await serving.run.exited).code).toBe(0);
  });

  it('SIGINT to npm', async () => {
    const serving = await startServing();
    const sentAt = Date.now();
    process.kill(serving.pids.npm, 'SIGINT');
    await expectAllStopped(serving, sentAt);
  });

  it('SIGTERM to the pid start.mjs printed', async () => {
    const serving = await startServing();
    const sentAt = Date.now();
    process.kill(serving.pids.start, 'SIGTERM');
    await expectAllStopped(serving, sentAt);
  });

  it('npm killed outright (SIGKILL): start.mjs notices and stops the rest', async () => {
    const serving = await startServing();
    const sentAt = Date.now();
    process.kill(serving.pids.npm, 'SIGKILL');
    await expectAllStopped({ ...serving, pids: { ...serving.pids, npm: serving.pids.start } }, sentAt);
  });
});
