// SQL for linked devices (migration 0070; spec/protocol.md §16, spec/openapi.yaml tag "devices").
// A device is one installed app of an account. Its id is chosen here, per account, increasing and
// never reused (users.next_device_id); a removed device keeps its row (removed_at) so that a
// returning device learns it was removed. Every function taking `tx` runs inside the caller's
// transaction, after the caller took the account's user row lock (lockAccount): device creation,
// removal and key uploads of one account are serialised by that lock, so counts stay exact.
import type { Queryable } from '../db/pool.js';
import type { DeviceKind } from './limits.js';
import { MAX_DEVICE_ID } from './limits.js';

export interface DeviceInfo {
  device_id: number;
  name: string;
  kind: DeviceKind;
  created_at: string;
  last_seen_at: string;
  current: boolean;
}

/**
 * Takes the account's user row lock for the rest of the transaction. NO KEY UPDATE: foreign-key
 * checks of other tables (KEY SHARE) are not blocked by it.
 */
export async function lockAccount(tx: Queryable, userId: string): Promise<void> {
  await tx.query('SELECT 1 FROM users WHERE id = $1 FOR NO KEY UPDATE', [userId]);
}

/** The device session `sessionId` is bound to, or null (device-less, or no such session). */
export async function deviceOfSession(db: Queryable, sessionId: string): Promise<number | null> {
  const r = await db.query<{ device_id: number | null }>('SELECT device_id FROM sessions WHERE id = $1', [
    sessionId,
  ]);
  return r.rows[0]?.device_id ?? null;
}

/** Whether `deviceId` of `userId` is active, was removed, or never existed. */
export async function deviceState(
  db: Queryable,
  userId: string,
  deviceId: number,
): Promise<'active' | 'removed' | 'unknown'> {
  const r = await db.query<{ removed: boolean }>(
    'SELECT removed_at IS NOT NULL AS removed FROM devices WHERE user_id = $1 AND device_id = $2',
    [userId, deviceId],
  );
  const row = r.rows[0];
  if (!row) return 'unknown';
  return row.removed ? 'removed' : 'active';
}

/** Active devices of `userId`. */
export async function countActiveDevices(db: Queryable, userId: string): Promise<number> {
  const r = await db.query<{ n: string }>(
    'SELECT count(*) AS n FROM devices WHERE user_id = $1 AND removed_at IS NULL',
    [userId],
  );
  return Number(r.rows[0]?.n ?? 0);
}

/**
 * Creates the next device of `userId` (caller holds lockAccount): null when the account already
 * has `limit` active devices (or, in theory, every id was used).
 */
export async function createDevice(
  tx: Queryable,
  userId: string,
  device: { name: string; kind: DeviceKind },
  now: Date,
  limit: number,
): Promise<number | null> {
  if ((await countActiveDevices(tx, userId)) >= limit) return null;
  const next = await tx.query<{ id: string }>(
    `UPDATE users SET next_device_id = next_device_id + 1
      WHERE id = $1 AND next_device_id <= $2 RETURNING next_device_id - 1 AS id`,
    [userId, MAX_DEVICE_ID],
  );
  const id = next.rows[0] ? Number(next.rows[0].id) : null;
  if (id === null) return null;
  await tx.query(
    `INSERT INTO devices (user_id, device_id, name, kind, created_at, last_seen_at)
     VALUES ($1, $2, $3, $4, $5, $5)`,
    [userId, id, device.name, device.kind, now],
  );
  return id;
}

/** Binds the device-less session `sessionId` to `deviceId` (an active device of the same account). */
export async function bindSession(
  tx: Queryable,
  userId: string,
  sessionId: string,
  deviceId: number,
  now: Date,
): Promise<void> {
  await tx.query('UPDATE sessions SET device_id = $3 WHERE id = $2 AND user_id = $1 AND device_id IS NULL', [
    userId,
    sessionId,
    deviceId,
  ]);
  await tx.query(
    'UPDATE devices SET last_seen_at = GREATEST(last_seen_at, $3) WHERE user_id = $1 AND device_id = $2',
    [userId, deviceId, now],
  );
}

/** Renames a device (a bound session re-sending its `device` description). */
export async function describeDevice(
  tx: Queryable,
  userId: string,
  deviceId: number,
  device: { name: string; kind: DeviceKind },
): Promise<void> {
  await tx.query('UPDATE devices SET name = $3, kind = $4 WHERE user_id = $1 AND device_id = $2', [
    userId,
    deviceId,
    device.name,
    device.kind,
  ]);
}

/**
 * Removes active devices of `userId` (caller holds lockAccount), in the caller's transaction:
 * `{ only: id }` one device (DELETE /devices/{id}), `{ except: id | null }` every device but one
 * (start over, POST /keys). Their sessions are revoked (the trigger of migration 0025 closes
 * their sockets in every relay process once this commits), their prekeys, the provisioning
 * messages they sealed or addresses their sessions opened, and their pending mailbox
 * (delete_device_mailbox, migration 0070/0071) deleted. Returns the removed ids.
 */
export async function removeDevices(
  tx: Queryable,
  userId: string,
  which: { only: number } | { except: number | null },
  reason: 'unlinked' | 'start_over',
  now: Date,
): Promise<number[]> {
  const r =
    'only' in which
      ? await tx.query<{ device_id: number }>(
          `UPDATE devices SET removed_at = $3, removed_reason = $4
            WHERE user_id = $1 AND device_id = $2 AND removed_at IS NULL RETURNING device_id`,
          [userId, which.only, now, reason],
        )
      : await tx.query<{ device_id: number }>(
          `UPDATE devices SET removed_at = $3, removed_reason = $4
            WHERE user_id = $1 AND device_id IS DISTINCT FROM $2 AND removed_at IS NULL RETURNING device_id`,
          [userId, which.except, now, reason],
        );
  const ids = r.rows.map((x) => x.device_id);
  if (!ids.length) return ids;
  await tx.query(
    `DELETE FROM provisioning
      WHERE user_id = $1 AND (put_device_id = ANY($2::int[])
            OR session_id IN (SELECT id FROM sessions WHERE user_id = $1 AND device_id = ANY($2::int[])))`,
    [userId, ids],
  );
  await tx.query(
    `UPDATE sessions SET revoked_at = $3, revoked_reason = 'device_removed'
      WHERE user_id = $1 AND device_id = ANY($2::int[]) AND revoked_at IS NULL`,
    [userId, ids, now],
  );
  for (const table of ['signed_prekeys', 'one_time_prekeys', 'one_time_pq_prekeys'])
    await tx.query(`DELETE FROM ${table} WHERE user_id = $1 AND device_id = ANY($2::int[])`, [userId, ids]);
  await tx.query('SELECT delete_device_mailbox(p_user => $1, p_device => d) FROM unnest($2::int[]) AS d', [
    userId,
    ids,
  ]);
  return ids;
}

/** The active devices of `userId`, oldest first; `current` marks `currentDevice`. */
export async function listDevices(
  db: Queryable,
  userId: string,
  currentDevice: number | null | undefined,
): Promise<DeviceInfo[]> {
  const r = await db.query<{
    device_id: number;
    name: string;
    kind: DeviceKind;
    created_at: Date;
    last_seen_at: Date;
  }>(
    `SELECT device_id, name, kind, created_at, last_seen_at FROM devices
      WHERE user_id = $1 AND removed_at IS NULL ORDER BY device_id`,
    [userId],
  );
  return r.rows.map((d) => ({
    device_id: d.device_id,
    name: d.name,
    kind: d.kind,
    created_at: d.created_at.toISOString(),
    last_seen_at: d.last_seen_at.toISOString(),
    current: d.device_id === currentDevice,
  }));
}

/**
 * The devices of `userId` a sender must reach (spec/protocol.md §16): the active ones with a
 * complete bundle, ascending — exactly the `device_ids` of GET /identity/{username} and the
 * devices GET /keys/{username} returns, so a send checked against this list can always be made
 * complete by fetching bundles.
 */
export async function publishedDeviceIds(db: Queryable, userId: string): Promise<number[]> {
  // The rule is one SQL function (migration 0074), shared with the send statement.
  const r = await db.query<{ ids: number[] }>('SELECT published_devices(p_user => $1) AS ids', [userId]);
  return r.rows[0]?.ids ?? [];
}
