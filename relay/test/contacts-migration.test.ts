// Migration 0080 (contacts_changed) on a database that already holds lists: a blocked user that
// is still a contact (added back before POST /contacts refused it, or by an add and a block at
// the same moment before the list routes locked the account) is a contact no more; every other
// contact stays, and the new stream item kind is allowed.
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrate } from '../src/db/migrate.js';
import { databaseBefore } from './helpers/migrate-before.js';

let client: pg.Client;
let drop: () => Promise<void>;
let url: string;
const [alice, bob, carol] = [randomUUID(), randomUUID(), randomUUID()];

beforeAll(async () => {
  ({ url, drop } = await databaseBefore('conmig', '0080'));
  client = new pg.Client({ connectionString: url });
  await client.connect();
  for (const [id, name] of [
    [alice, 'alice'],
    [bob, 'bob'],
    [carol, 'carol'],
  ])
    await client.query(
      `INSERT INTO users (id, username, totp_secret, status) VALUES ($1, $2, '\\x00', 'active')`,
      [id, name],
    );
  await client.query(`INSERT INTO contacts (user_id, contact_id) VALUES ($1, $2), ($1, $3), ($2, $1)`, [
    alice,
    bob,
    carol,
  ]);
  await client.query('INSERT INTO blocks (user_id, blocked_id) VALUES ($1, $2)', [alice, bob]);
});

afterAll(async () => {
  await client?.end();
  await drop?.();
});

describe('migration 0080_contacts_changed on existing data', () => {
  it('removes the contact rows of blocked users only, admits contacts_changed items and indexes them', async () => {
    expect(await migrate(url)).toContain('0080_contacts_changed');
    const rows = await client.query<{ u: string; c: string }>(
      `SELECT u.username AS u, c.username AS c FROM contacts x
         JOIN users u ON u.id = x.user_id JOIN users c ON c.id = x.contact_id ORDER BY 1, 2`,
    );
    // alice blocked bob: no longer her contact; her other contact, and bob's list, stay.
    expect(rows.rows).toEqual([
      { u: 'alice', c: 'carol' },
      { u: 'bob', c: 'alice' },
    ]);
    await client.query(
      `INSERT INTO stream_events (user_id, seq, kind, subject_id) VALUES ($1, 1, 'contacts_changed', $1)`,
      [alice],
    );
    // The index that finds a session's earlier items (src/contacts/change-lists.ts).
    const index = await client.query<{ indexdef: string }>(
      `SELECT indexdef FROM pg_indexes WHERE indexname = 'stream_events_contacts_changed'`,
    );
    expect(index.rows[0]?.indexdef).toMatch(
      /\(user_id, origin_session_id\) WHERE \(kind = 'contacts_changed'/,
    );
  });
});
