import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { earlierRun, isAlive, readLock, removeLock, writeLock } from '../lib/runlock.mjs';

let dir;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'sd-lock-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const run = { pid: 4100, port: 8000, relayPort: 3000, relayPid: 4200, hostPid: 4300 };
const commands = {
  4100: 'node scripts/start.mjs',
  4200: '/usr/bin/node dist/server.js',
  4300: 'python -m uvicorn host.asgi:application',
  4400: 'postgres -D x',
};
const only = (...pids) => ({ alive: (pid) => pids.includes(pid), cmdline: (pid) => commands[pid] ?? 'bash' });

describe('earlierRun: a run of ours still serving is named, with how to stop it', () => {
  it('names the npm start process and its port when it still runs', () => {
    writeLock(dir, run);
    expect(earlierRun(dir, only(4100, 4200, 4300))).toBe(
      'Secure Drop from an earlier run (pid 4100) is still serving on port 8000 (relay 3000) — ' +
        'stop it with `kill 4100` (its relay, PostgreSQL and Django host stop with it), then start again',
    );
  });

  it('names orphaned children when npm start itself was killed', () => {
    writeLock(dir, run);
    expect(earlierRun(dir, only(4200, 4300))).toMatch(
      /^the relay \(pid 4200\) and the Django host \(pid 4300\) from an earlier run .* `kill 4200 4300`/,
    );
    expect(earlierRun(dir, only(4300))).toMatch(
      /^the Django host \(pid 4300\) .* is still running .*`kill 4300`/,
    );
  });

  it('names a PostgreSQL left holding the data directory', () => {
    mkdirSync(join(dir, 'postgres/data'), { recursive: true });
    writeFileSync(join(dir, 'postgres/data/postmaster.pid'), '4400\n/x\n1700000000\n41234\n');
    expect(earlierRun(dir, only(4400))).toMatch(
      /^PostgreSQL from an earlier run \(pid 4400, port 41234\).*`kill 4400`/,
    );
  });

  it('is null when the recorded processes are gone or the pid now belongs to another program', () => {
    writeLock(dir, run);
    expect(earlierRun(dir, only())).toBeNull();
    // pid reuse: alive, but not a program we started
    expect(earlierRun(dir, { alive: () => true, cmdline: () => 'vim notes.txt' })).toBeNull();
    expect(earlierRun(join(dir, 'absent'), only(4100))).toBeNull();
  });

  it('never names the process asking', () => {
    writeLock(dir, run);
    expect(earlierRun(dir, { ...only(4100), self: 4100 })).toBeNull();
  });
});

describe('the run record', () => {
  it('is written whole, read back, and removed only by its owner', () => {
    writeLock(dir, { ...run, pid: process.pid });
    expect(readLock(dir)).toMatchObject({ pid: process.pid, port: 8000 });
    removeLock(dir, 1);
    expect(readLock(dir)).not.toBeNull();
    removeLock(dir);
    expect(readLock(dir)).toBeNull();
  });

  it('isAlive: this process is, an impossible pid is not', () => {
    expect(isAlive(process.pid)).toBe(true);
    expect(isAlive(0)).toBe(false);
    expect(isAlive(2 ** 30)).toBe(false);
  });
});
