// Versioned SQL migrations (relay/README.md): relay/migrations/NNNN_name.sql, one per change,
// applied in numeric order by node-pg-migrate, which records them in `pgmigrations` and holds an
// advisory lock so several relay processes starting together migrate once.
// Numbering: 0001–0019 foundation/auth, 0020+ keys/contacts/messages/photos.
import { resolve } from 'node:path';
import { runner } from 'node-pg-migrate';
import pg from 'pg';
import type { Logger } from '../logger.js';

export const MIGRATIONS_DIR = resolve(import.meta.dirname, '..', '..', 'migrations');

export async function migrate(databaseUrl: string, logger?: Logger): Promise<string[]> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    const ran = await runner({
      dbClient: client,
      dir: MIGRATIONS_DIR,
      direction: 'up',
      migrationsTable: 'pgmigrations',
      checkOrder: true,
      singleTransaction: true,
      advisoryLockMode: 'wait',
      log: () => undefined,
    });
    const names = ran.map((m) => m.name);
    if (names.length) logger?.info({ migrations: names }, 'applied migrations');
    return names;
  } finally {
    await client.end();
  }
}
