// The record `npm start` keeps of its own run in the data directory (DATA_DIR/npm-start.json:
// its pid, its children's pids and their ports), so that a later start, `npm run backup` or
// `npm run restore` can tell "Secure Drop from an earlier run is still serving" apart from a
// port some other program holds, and name the process to stop. PostgreSQL keeps the same kind
// of record itself (postmaster.pid, first line its pid, fourth its port).
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export const LOCK_FILE = 'npm-start.json';

/** Whether a process with this pid exists (EPERM: it exists but belongs to another user). */
export function isAlive(pid) {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return err.code === 'EPERM';
  }
}

/** The command line of a process where the OS exposes it (Linux /proc), else null. */
export function commandLine(pid) {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ').trim();
  } catch {
    return null;
  }
}

export function readLock(dataDir) {
  const file = join(dataDir, LOCK_FILE);
  if (!existsSync(file)) return null;
  try {
    return JSON.parse(readFileSync(file, 'utf8'));
  } catch {
    return null;
  }
}

/** Writes the record atomically (a reader never sees half a file), owner-only. */
export function writeLock(dataDir, record) {
  mkdirSync(dataDir, { recursive: true, mode: 0o711 });
  const file = join(dataDir, LOCK_FILE);
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(record, null, 2)}\n`, { mode: 0o600 });
  renameSync(tmp, file);
}

/** Removes the record if it is still this process's own. */
export function removeLock(dataDir, pid = process.pid) {
  if (readLock(dataDir)?.pid === pid) rmSync(join(dataDir, LOCK_FILE), { force: true });
}

/** PostgreSQL's own record of the server running on `databaseDir`: { pid, port } or null. */
export function readPostmaster(databaseDir) {
  const file = join(databaseDir, 'postmaster.pid');
  if (!existsSync(file)) return null;
  const lines = readFileSync(file, 'utf8').split('\n');
  const pid = Number(lines[0]);
  const port = Number(lines[3]);
  return Number.isInteger(pid) && pid > 0 ? { pid, port: Number.isInteger(port) ? port : null } : null;
}

/**
 * What is still running from an earlier run on `dataDir`, as a sentence that names the pids and
 * how to stop them; null when nothing is. A pid is believed only while it is alive and, where the
 * command line can be read, looks like the program recorded (a recycled pid is not blamed).
 */
export function earlierRun(dataDir, { alive = isAlive, cmdline = commandLine, self = process.pid } = {}) {
  const lock = readLock(dataDir);
  const ours = (pid, pattern) => {
    if (!alive(pid) || pid === self) return false;
    const line = cmdline(pid);
    return line === null || pattern.test(line);
  };
  if (lock) {
    const where = `port ${lock.port}${lock.relayPort ? ` (relay ${lock.relayPort})` : ''}`;
    if (ours(lock.pid, /start\.mjs/)) {
      return (
        `Secure Drop from an earlier run (pid ${lock.pid}) is still serving on ${where} — ` +
        `stop it with \`kill ${lock.pid}\` (its relay, PostgreSQL and Django host stop with it), then start again`
      );
    }
    const left = [
      ['the relay', lock.relayPid, /server\.(js|ts)|relay/],
      ['the Django host', lock.hostPid, /uvicorn/],
    ].filter(([, pid, pattern]) => ours(pid, pattern));
    if (left.length) {
      const names = left.map(([name, pid]) => `${name} (pid ${pid})`).join(' and ');
      const pids = left.map(([, pid]) => pid).join(' ');
      return (
        `${names} from an earlier run of Secure Drop ${left.length > 1 ? 'are' : 'is'} still running on ${where} ` +
        `although \`npm start\` is gone — stop ${left.length > 1 ? 'them' : 'it'} with \`kill ${pids}\`, then start again`
      );
    }
  }
  const pg = readPostmaster(join(dataDir, 'postgres', 'data'));
  if (pg && ours(pg.pid, /postgres/)) {
    return (
      `PostgreSQL from an earlier run (pid ${pg.pid}${pg.port ? `, port ${pg.port}` : ''}) still holds ` +
      `${join(dataDir, 'postgres')} — stop it with \`kill ${pg.pid}\`, then start again`
    );
  }
  return null;
}
