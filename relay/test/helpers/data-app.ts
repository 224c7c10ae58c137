// A test relay that stores files (photos, resumable uploads): a fresh database and its own
// DATA_DIR, both removed by close().
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startTestApp, type TestApp } from './app.js';
import { freshDatabase } from './db.js';

export interface DataApp {
  readonly app: TestApp;
  /** Its database, for a second relay process on the same data. */
  readonly databaseUrl: string;
  /** The relay's DATA_DIR (photos/, photo-uploads/ below it). */
  readonly dataDir: string;
  close(): Promise<void>;
}

/** Starts the relay with `env` on a fresh database and a new DATA_DIR named after `prefix`. */
export async function startDataApp(prefix: string, env: Record<string, string>): Promise<DataApp> {
  const db = await freshDatabase();
  const dataDir = mkdtempSync(join(tmpdir(), prefix));
  const app = await startTestApp({ databaseUrl: db.url, env: { DATA_DIR: dataDir, ...env } });
  return {
    app,
    databaseUrl: db.url,
    dataDir,
    async close() {
      await app.close();
      await db.drop();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
