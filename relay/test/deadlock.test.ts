// A statement PostgreSQL aborts as a deadlock victim (SQLSTATE 40P01) is run again; any other
// error stands at once (src/db/deadlock.ts). The 40P01 here is raised by the real server.
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEADLOCK_RETRIES, retryOnDeadlock } from '../src/db/deadlock.js';
import { freshDatabase, type TestDatabase } from './helpers/db.js';

let db: TestDatabase;
let client: pg.Client;

beforeAll(async () => {
  db = await freshDatabase();
  client = new pg.Client({ connectionString: db.url });
  await client.connect();
});
afterAll(async () => {
  await client?.end();
  await db?.drop();
});

/** A statement that fails with `code` the first `failures` times it runs, then answers 1. */
function flaky(code: string, failures: number) {
  let runs = 0;
  const statement = async () => {
    runs++;
    if (runs <= failures)
      await client.query(`DO $$ BEGIN RAISE EXCEPTION 'test' USING ERRCODE = '${code}'; END $$`);
    return (await client.query<{ one: number }>('SELECT 1 AS one')).rows[0]?.one;
  };
  return { statement, runs: () => runs };
}

describe('retryOnDeadlock', () => {
  it('runs a deadlock victim again until it succeeds, within the bound', async () => {
    const s = flaky('40P01', DEADLOCK_RETRIES);
    expect(await retryOnDeadlock(s.statement)).toBe(1);
    expect(s.runs()).toBe(DEADLOCK_RETRIES + 1);
  });

  it('lets the deadlock stand once the retries are spent', async () => {
    const s = flaky('40P01', DEADLOCK_RETRIES + 1);
    await expect(retryOnDeadlock(s.statement)).rejects.toMatchObject({ code: '40P01' });
    expect(s.runs()).toBe(DEADLOCK_RETRIES + 1);
  });

  it('does not retry any other error', async () => {
    const s = flaky('23505', 1);
    await expect(retryOnDeadlock(s.statement)).rejects.toMatchObject({ code: '23505' });
    expect(s.runs()).toBe(1);
  });
});
