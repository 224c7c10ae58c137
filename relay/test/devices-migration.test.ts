// Migration 0070 (linked devices) on a database that already holds accounts: it must apply, give
// every account with an identity key device 1, and bind its live sessions and prekeys to it.
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrate } from '../src/db/migrate.js';
import { databaseBefore } from './helpers/migrate-before.js';

let url: string;
let client: pg.Client;
let drop: () => Promise<void>;

const alice = randomUUID();
const bob = randomUUID(); // registered, no identity key yet
const aliceLive = randomUUID();
const aliceRevoked = randomUUID();
const bobLive = randomUUID();

beforeAll(async () => {
  ({ url, drop } = await databaseBefore('devmig', '0070'));
  client = new pg.Client({ connectionString: url });
  await client.connect();
  const q = (sql: string, v: unknown[] = []) => client.query(sql, v);
  for (const [id, name] of [
    [alice, 'alice'],
    [bob, 'bob'],
  ])
    await q(`INSERT INTO users (id, username, totp_secret, status) VALUES ($1, $2, '\\x00', 'active')`, [
      id,
      name,
    ]);
  await q(
    `INSERT INTO sessions (id, user_id, expires_at, client, last_used_at)
     VALUES ($1, $2, now() + interval '1 day', 'Firefox on Android', now())`,
    [aliceLive, alice],
  );
  await q(
    `INSERT INTO sessions (id, user_id, expires_at, revoked_at, revoked_reason)
     VALUES ($1, $2, now() + interval '1 day', now(), 'logout')`,
    [aliceRevoked, alice],
  );
  await q(`INSERT INTO sessions (id, user_id, expires_at) VALUES ($1, $2, now() + interval '1 day')`, [
    bobLive,
    bob,
  ]);
  await q(`INSERT INTO identity_keys (user_id, public_key) VALUES ($1, '\\x01')`, [alice]);
  await q(
    `INSERT INTO signed_prekeys (user_id, kind, key_id, public_key, signature)
     VALUES ($1, 'x25519', 1, '\\x02', '\\x03'), ($1, 'mlkem768', 1, '\\x04', '\\x05')`,
    [alice],
  );
  await q(
    `INSERT INTO one_time_prekeys (user_id, key_id, public_key) VALUES ($1, 1, '\\x06'), ($1, 2, '\\x07')`,
    [alice],
  );
  await q(
    `INSERT INTO one_time_pq_prekeys (user_id, key_id, public_key, signature) VALUES ($1, 1, '\\x08', '\\x09')`,
    [alice],
  );
  // A stray one-time prekey of an account without an identity key (unusable: no bundle).
  await q(`INSERT INTO one_time_prekeys (user_id, key_id, public_key) VALUES ($1, 1, '\\x0a')`, [bob]);
  await q(`INSERT INTO stream_events (user_id, seq, kind, subject_id) VALUES ($1, 1, 'key_change', $2)`, [
    bob,
    alice,
  ]);
  await client.end();
  const ran = await migrate(url);
  expect(ran.some((n) => n.startsWith('0070'))).toBe(true);
  client = new pg.Client({ connectionString: url });
  await client.connect();
});

afterAll(async () => {
  await client?.end();
  await drop?.();
});

describe('migration 0070_devices on existing data', () => {
  it('gives an account with an identity key device 1, named after its live session', async () => {
    const d = await client.query(
      'SELECT user_id, device_id, name, kind, removed_at FROM devices ORDER BY user_id',
    );
    expect(d.rows).toEqual([
      { user_id: alice, device_id: 1, name: 'Firefox on Android', kind: 'other', removed_at: null },
    ]);
    const n = await client.query('SELECT id, next_device_id FROM users ORDER BY username');
    expect(n.rows.map((r) => [r.id, Number(r.next_device_id)])).toEqual([
      [alice, 2],
      [bob, 1],
    ]);
  });

  it('binds the live sessions (only) and every prekey to device 1', async () => {
    const s = await client.query<{ id: string; device_id: number | null }>(
      'SELECT id, device_id FROM sessions',
    );
    const byId = Object.fromEntries(s.rows.map((r) => [r.id, r.device_id]));
    expect(byId).toEqual({ [aliceLive]: 1, [aliceRevoked]: null, [bobLive]: null });
    const spk = await client.query(
      'SELECT kind, device_id FROM signed_prekeys WHERE user_id = $1 ORDER BY kind',
      [alice],
    );
    expect(spk.rows).toEqual([
      { kind: 'mlkem768', device_id: 1 },
      { kind: 'x25519', device_id: 1 },
    ]);
    const opk = await client.query('SELECT user_id, device_id FROM one_time_prekeys ORDER BY key_id');
    expect(opk.rows).toEqual([
      { user_id: alice, device_id: 1 },
      { user_id: alice, device_id: 1 },
    ]);
    const pq = await client.query('SELECT device_id FROM one_time_pq_prekeys');
    expect(pq.rows).toEqual([{ device_id: 1 }]);
  });

  it('keys prekeys per (account, device) and allows devices_changed items', async () => {
    await client.query(
      `INSERT INTO devices (user_id, device_id, name, kind) VALUES ($1, 2, 'Laptop', 'desktop')`,
      [alice],
    );
    // The same key_id on another device of the same account is allowed; twice on one device is not.
    await client.query(
      `INSERT INTO one_time_prekeys (user_id, device_id, key_id, public_key) VALUES ($1, 2, 1, '\\x0b')`,
      [alice],
    );
    await expect(
      client.query(
        `INSERT INTO one_time_prekeys (user_id, device_id, key_id, public_key) VALUES ($1, 2, 1, '\\x0c')`,
        [alice],
      ),
    ).rejects.toMatchObject({ code: '23505' });
    // A session cannot be bound to another account's device.
    await expect(
      client.query('UPDATE sessions SET device_id = 2 WHERE id = $1', [bobLive]),
    ).rejects.toMatchObject({
      code: '23503',
    });
    await client.query(
      `INSERT INTO stream_events (user_id, seq, kind, subject_id) VALUES ($1, 2, 'devices_changed', $1)`,
      [alice],
    );
  });
});
