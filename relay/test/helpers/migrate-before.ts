// A database of its own, migrated up to (not including) one migration: for the tests of a
// migration that must apply to data an earlier schema allowed.
import { readdirSync } from 'node:fs';
import { runner } from 'node-pg-migrate';
import pg from 'pg';
import { inject } from 'vitest';
import { MIGRATIONS_DIR } from '../../src/db/migrate.js';
import { withDatabase } from './pg-url.js';

async function admin(sql: string): Promise<void> {
  const c = new pg.Client({ connectionString: inject('pgAdminUrl') });
  await c.connect();
  try {
    await c.query(sql);
  } finally {
    await c.end();
  }
}

/**
 * Creates a database named after `tag` and applies the migrations whose file names sort before
 * `before` (e.g. '0080'). Returns its URL and how to drop it.
 */
export async function databaseBefore(
  tag: string,
  before: string,
): Promise<{ url: string; drop: () => Promise<void> }> {
  const name = `${inject('pgPrefix')}${tag}_${Date.now().toString(36)}`;
  await admin(`CREATE DATABASE ${name}`);
  const url = withDatabase(inject('pgAdminUrl'), name);
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    await runner({
      dbClient: c,
      dir: MIGRATIONS_DIR,
      direction: 'up',
      migrationsTable: 'pgmigrations',
      checkOrder: true,
      singleTransaction: true,
      count: readdirSync(MIGRATIONS_DIR).filter((f) => f.endsWith('.sql') && f < before).length,
      log: () => undefined,
    });
  } finally {
    await c.end();
  }
  return { url, drop: () => admin(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`) };
}
