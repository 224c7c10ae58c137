// Starts ONE real PostgreSQL for the whole test run — embedded in a temp dir on its own port, or
// the server in DATABASE_URL — migrates a template database once, and provides both to test
// files (test/helpers/db.ts copies the template per file with CREATE DATABASE … TEMPLATE).
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import type { TestProject } from 'vitest/node';
import { type EmbeddedDb, startEmbeddedPostgres } from '../src/db/embedded.js';
import { migrate } from '../src/db/migrate.js';
import { withDatabase } from './helpers/pg-url.js';

declare module 'vitest' {
  export interface ProvidedContext {
    pgAdminUrl: string;
    pgTemplate: string;
    pgPrefix: string;
  }
}

export default async function setup(project: TestProject) {
  let embedded: EmbeddedDb | undefined;
  let dir: string | undefined;
  let adminUrl = process.env.DATABASE_URL;
  const run = randomBytes(4).toString('hex');
  const prefix = `sd_test_${run}_`;
  const template = `${prefix}template`;
  let admin: pg.Client;
  try {
    if (!adminUrl) {
      dir = mkdtempSync(join(tmpdir(), 'sd-relay-test-pg-'));
      embedded = await startEmbeddedPostgres(dir);
      adminUrl = embedded.adminUrl();
    }
    admin = new pg.Client({ connectionString: adminUrl });
    await admin.connect();
    await admin.query(`CREATE DATABASE ${template}`);
    await migrate(withDatabase(adminUrl, template));
  } catch (err) {
    // Vitest skips the teardown when setup throws: stop and remove what was started here.
    await embedded?.stop().catch(() => undefined);
    if (dir) rmSync(dir, { recursive: true, force: true });
    throw err;
  }

  project.provide('pgAdminUrl', adminUrl);
  project.provide('pgTemplate', template);
  project.provide('pgPrefix', prefix);

  return async () => {
    // Drop every database this run created (matters when DATABASE_URL points at a shared server).
    const { rows } = await admin.query<{ datname: string }>(
      'SELECT datname FROM pg_database WHERE starts_with(datname, $1)',
      [prefix],
    );
    for (const { datname } of rows) await admin.query(`DROP DATABASE IF EXISTS ${datname} WITH (FORCE)`);
    await admin.end();
    await embedded?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  };
}
