// `npm run backup [-- <folder>]` and `npm run restore -- <folder> [--force]` for the database and
// photo store of `npm start` (DATA_DIR, default ./.data): a real pg_dump / pg_restore of
// PostgreSQL 18 (scripts/lib/pg-tools.mjs), the photo files, and .data/secrets.json when the keys
// live there. Run with tsx so the embedded server is started exactly as the relay starts it
// (relay/src/db/embedded.ts). A backup folder holds:
//   manifest.json   format, time, what is inside
//   database.dump   pg_dump --format=custom of the relay's database
//   photos/         the encrypted photo store, as files
//   secrets.json    only when DATA_DIR holds the generated keys (see SECURITY.md)
import { spawnSync } from 'node:child_process';
import {
  chmodSync,
  cpSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { join, resolve } from 'node:path';
import pg from 'pg';
import { startEmbeddedPostgres } from '../relay/src/db/embedded.ts';
import { ensurePgTools, PgToolsError } from './lib/pg-tools.mjs';
import { earlierRun, isAlive, readPostmaster } from './lib/runlock.mjs';
import { dataDirOf } from './lib/workspace.mjs';
import { ensurePythonEnv, PythonEnvError } from './python-env.mjs';

const root = resolve(import.meta.dirname, '..');
const DATABASE = 'securedrop';
const FORMAT = 1;
const say = (m: string) => console.log(`▸ ${m}`);

class BackupError extends Error {}

/** libpq connection settings; the password travels in PGPASSWORD, never on a command line. */
interface Conn {
  host: string;
  port: number;
  user: string;
  password: string;
  database: string;
  sslmode?: string;
}

function connFromUrl(url: string): Conn {
  const u = new URL(url);
  return {
    host: u.hostname.replace(/^\[|\]$/g, ''),
    port: Number(u.port || 5432),
    user: decodeURIComponent(u.username),
    password: decodeURIComponent(u.password),
    database: decodeURIComponent(u.pathname.slice(1)) || DATABASE,
    sslmode: u.searchParams.get('sslmode') ?? undefined,
  };
}

function libpqEnv(c: Conn): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    PGHOST: c.host,
    PGPORT: String(c.port),
    PGUSER: c.user,
    PGPASSWORD: c.password,
    PGDATABASE: c.database,
  };
  if (c.sslmode) env.PGSSLMODE = c.sslmode;
  return env;
}

function runTool(binary: string, args: string[], conn: Conn, what: string): void {
  const r = spawnSync(binary, args, { env: libpqEnv(conn), encoding: 'utf8' });
  if (r.status !== 0)
    throw new BackupError(
      `${what} failed (exit ${r.status ?? r.signal}):\n${(r.stderr || r.stdout).slice(-3000)}`,
    );
}

function tools(): string {
  try {
    const python = ensurePythonEnv({ quiet: true, log: say });
    return ensurePgTools({ root, python, log: say });
  } catch (err) {
    if (err instanceof PythonEnvError || err instanceof PgToolsError) throw new BackupError(err.message);
    throw err;
  }
}

/** The relay's database: DATABASE_URL, the embedded server now running, or one started for us. */
async function openDatabase(dataDir: string): Promise<{ conn: Conn; close: () => Promise<void> }> {
  if (process.env.DATABASE_URL) return { conn: connFromUrl(process.env.DATABASE_URL), close: async () => {} };
  const pgDir = join(dataDir, 'postgres');
  if (!existsSync(join(pgDir, 'data', 'PG_VERSION')))
    throw new BackupError(
      `no database in ${pgDir}: nothing to back up (has npm start run with this DATA_DIR?)`,
    );
  const running = readPostmaster(join(pgDir, 'data'));
  if (running && isAlive(running.pid) && running.port) {
    // Secure Drop is serving: pg_dump takes a consistent snapshot of the live database.
    const password = readFileSync(join(pgDir, 'password'), 'utf8').trim();
    return {
      conn: { host: '127.0.0.1', port: running.port, user: 'postgres', password, database: DATABASE },
      close: async () => {},
    };
  }
  const db = await startEmbeddedPostgres(pgDir);
  return { conn: connFromUrl(db.adminUrl(DATABASE)), close: () => db.stop() };
}

function countFiles(dir: string): number {
  if (!existsSync(dir)) return 0;
  let n = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true }))
    n += entry.isDirectory() ? countFiles(join(dir, entry.name)) : 1;
  return n;
}

const stampNow = () =>
  new Date()
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, 'Z');

export async function backup(target: string | undefined): Promise<string> {
  const dataDir = dataDirOf(root, process.env);
  const out = resolve(target ?? join(root, 'backups', `secure-drop-${stampNow()}`));
  if (existsSync(out) && readdirSync(out).length > 0)
    throw new BackupError(`${out} exists and is not empty; name a new folder`);
  const bin = tools();
  const { conn, close } = await openDatabase(dataDir);
  mkdirSync(out, { recursive: true, mode: 0o700 });
  chmodSync(out, 0o700);
  try {
    say(`dumping the database (${conn.database} on ${conn.host}:${conn.port})`);
    runTool(
      join(bin, 'pg_dump'),
      ['--format=custom', '--no-owner', '--no-privileges', `--file=${join(out, 'database.dump')}`],
      conn,
      'pg_dump',
    );
  } finally {
    await close();
  }
  chmodSync(join(out, 'database.dump'), 0o600);
  const photos = join(dataDir, 'photos');
  if (existsSync(photos)) cpSync(photos, join(out, 'photos'), { recursive: true });
  const photoCount = countFiles(join(out, 'photos'));
  const secrets = join(dataDir, 'secrets.json');
  const withSecrets = existsSync(secrets);
  if (withSecrets) {
    cpSync(secrets, join(out, 'secrets.json'));
    chmodSync(join(out, 'secrets.json'), 0o600);
  }
  const manifest = {
    format: FORMAT,
    createdAt: new Date().toISOString(),
    database: conn.database,
    source: process.env.DATABASE_URL ? 'DATABASE_URL' : 'embedded',
    photos: photoCount,
    secrets: withSecrets,
  };
  writeFileSync(join(out, 'manifest.json'), `${JSON.stringify(manifest, null, 2)}\n`, { mode: 0o600 });
  const size = (statSync(join(out, 'database.dump')).size / 1024).toFixed(0);
  say(`backup written to ${out} (database ${size} KiB, ${photoCount} photo file(s))`);
  if (withSecrets)
    console.log(
      '  It includes .data/secrets.json (TOTP_ENCRYPTION_KEY, JWT_SECRET): anyone holding this backup can\n' +
        '  compute login codes for every account. Keep it like the key itself (SECURITY.md).',
    );
  else
    console.log(
      '  The keys are not in it (given from outside DATA_DIR): back up TOTP_ENCRYPTION_KEY separately;\n' +
        '  without it nobody can log in after a restore.',
    );
  return out;
}

/** Moves `path` aside as `<path>.before-restore-<time>` and says so. */
function moveAside(path: string, stamp: string): void {
  if (!existsSync(path)) return;
  const aside = `${path}.before-restore-${stamp}`;
  renameSync(path, aside);
  say(`kept the previous ${path} as ${aside}`);
}

export async function restore(source: string | undefined, force: boolean): Promise<void> {
  if (!source) throw new BackupError('usage: npm run restore -- <backup folder> [--force]');
  const from = resolve(source);
  const manifestFile = join(from, 'manifest.json');
  if (!existsSync(manifestFile) || !existsSync(join(from, 'database.dump')))
    throw new BackupError(`${from} is not a Secure Drop backup (no manifest.json or database.dump)`);
  const manifest = JSON.parse(readFileSync(manifestFile, 'utf8')) as { format?: number; secrets?: boolean };
  if (manifest.format !== FORMAT) throw new BackupError(`unknown backup format ${manifest.format}`);
  const dataDir = dataDirOf(root, process.env);
  const running = earlierRun(dataDir);
  if (running) throw new BackupError(`stop Secure Drop before restoring: ${running}`);
  const bin = tools();
  const stamp = stampNow();
  const pgDir = join(dataDir, 'postgres');
  const secrets = join(dataDir, 'secrets.json');
  const sameSecrets =
    manifest.secrets &&
    existsSync(secrets) &&
    readFileSync(secrets).equals(readFileSync(join(from, 'secrets.json')));
  const replacing = [
    !process.env.DATABASE_URL && existsSync(join(pgDir, 'data', 'PG_VERSION')) && pgDir,
    countFiles(join(dataDir, 'photos')) > 0 && join(dataDir, 'photos'),
    manifest.secrets && existsSync(secrets) && !sameSecrets && secrets,
  ].filter((x): x is string => typeof x === 'string');
  if (process.env.DATABASE_URL && !force)
    throw new BackupError('restoring into DATABASE_URL replaces its tables: pass --force to go on');
  if (replacing.length && !force)
    throw new BackupError(
      `${dataDir} already holds data (${replacing.join(', ')}); pass --force to restore anyway ` +
        '(what is there is moved aside, not deleted)',
    );
  for (const path of replacing) moveAside(path, stamp);

  mkdirSync(dataDir, { recursive: true, mode: 0o711 });
  if (manifest.secrets && !sameSecrets) {
    cpSync(join(from, 'secrets.json'), secrets);
    chmodSync(secrets, 0o600);
  }
  if (existsSync(join(from, 'photos')))
    cpSync(join(from, 'photos'), join(dataDir, 'photos'), { recursive: true });

  let conn: Conn;
  let close = async () => {};
  if (process.env.DATABASE_URL) conn = connFromUrl(process.env.DATABASE_URL);
  else {
    const db = await startEmbeddedPostgres(pgDir);
    close = () => db.stop();
    const admin = new pg.Client({ connectionString: db.adminUrl() });
    await admin.connect();
    try {
      await admin.query(`CREATE DATABASE ${DATABASE}`);
    } finally {
      await admin.end();
    }
    conn = connFromUrl(db.adminUrl(DATABASE));
  }
  try {
    say(`restoring the database into ${conn.database} on ${conn.host}:${conn.port}`);
    const clean = process.env.DATABASE_URL ? ['--clean', '--if-exists'] : [];
    runTool(
      join(bin, 'pg_restore'),
      [
        ...clean,
        '--no-owner',
        '--no-privileges',
        '--exit-on-error',
        '--single-transaction',
        `--dbname=${conn.database}`,
        join(from, 'database.dump'),
      ],
      conn,
      'pg_restore',
    );
  } finally {
    await close();
  }
  say(`restored ${from} into ${dataDir}; start Secure Drop with npm start`);
  if (!manifest.secrets)
    console.log(
      '  This backup holds no keys: start with the same TOTP_ENCRYPTION_KEY (and JWT_SECRET) as before.',
    );
}

async function main(): Promise<void> {
  const [command, ...rest] = process.argv.slice(2);
  const force = rest.includes('--force');
  const folder = rest.find((a) => !a.startsWith('--'));
  if (command === 'backup') await backup(folder);
  else if (command === 'restore') await restore(folder, force);
  else throw new BackupError('usage: tsx scripts/backup.ts backup [folder] | restore <folder> [--force]');
}

main().catch((err: unknown) => {
  console.error(err instanceof BackupError ? `✗ ${err.message}` : err);
  process.exit(1);
});
