// Provisioning addresses (spec/protocol.md §16 "Linking"; spec/openapi.yaml /provisioning):
// Signal's device provisioning, adapted. A new device's session opens an address and shows it in
// a QR code; an existing device of the SAME account reads the new device's ML-KEM key from it
// and PUTs the sealed provisioning message once; the new device's session (the one that opened
// it, no other) fetches that message once, which deletes the address. An address expires
// PROVISIONING_TTL_SECONDS after its creation (410 until the sweep deletes it), works once (409),
// and is 404 for anyone else: unknown addresses and another account's look the same.
import { randomBytes } from 'node:crypto';
import type { Queryable } from '../db/pool.js';
import type { DeviceKind } from './limits.js';
import { MAX_OPEN_PROVISIONING, PROVISIONING_ADDRESS_BYTES, PROVISIONING_TTL_SECONDS } from './limits.js';
import { lockAccount } from './store.js';

/** The address in URLs: 16 bytes, base64url without padding; null unless exactly canonical. */
export function parseAddress(text: string): Buffer | null {
  if (!/^[A-Za-z0-9_-]{22}$/.test(text)) return null;
  const bytes = Buffer.from(text, 'base64url');
  return bytes.length === PROVISIONING_ADDRESS_BYTES && bytes.toString('base64url') === text ? bytes : null;
}

export type OpenOutcome =
  | { kind: 'ok'; address: string; expiresAt: Date }
  | { kind: 'too_many'; retryAfterSeconds: number };

/** Opens an address for session `sessionId` of `userId` (at most MAX_OPEN_PROVISIONING unexpired). */
export async function openAddress(
  tx: Queryable,
  userId: string,
  sessionId: string,
  request: { pqKey: Buffer; name: string; kind: DeviceKind },
  now: Date,
): Promise<OpenOutcome> {
  // The account lock makes the count exact under concurrent opens.
  await lockAccount(tx, userId);
  const open = await tx.query<{ expires_at: Date }>(
    'SELECT expires_at FROM provisioning WHERE user_id = $1 AND expires_at > $2 ORDER BY expires_at',
    [userId, now],
  );
  if (open.rows.length >= MAX_OPEN_PROVISIONING) {
    const first = open.rows[0]?.expires_at.getTime() ?? now.getTime() + 1000;
    return { kind: 'too_many', retryAfterSeconds: (first - now.getTime()) / 1000 };
  }
  const address = randomBytes(PROVISIONING_ADDRESS_BYTES);
  const expiresAt = new Date(now.getTime() + PROVISIONING_TTL_SECONDS * 1000);
  await tx.query(
    `INSERT INTO provisioning (address, user_id, session_id, pq_key, name, kind, created_at, expires_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
    [address, userId, sessionId, request.pqKey, request.name, request.kind, now, expiresAt],
  );
  return { kind: 'ok', address: address.toString('base64url'), expiresAt };
}

export interface AddressRow {
  pqKey: Buffer;
  name: string;
  kind: DeviceKind;
  createdAt: Date;
  expiresAt: Date;
  sessionId: string;
  used: boolean;
}

/** The address as `userId` may see it (null: unknown, or another account's). */
export async function readAddress(
  db: Queryable,
  userId: string,
  address: Buffer,
): Promise<AddressRow | null> {
  const r = await db.query<{
    pq_key: Buffer;
    name: string;
    kind: DeviceKind;
    created_at: Date;
    expires_at: Date;
    session_id: string;
    used: boolean;
  }>(
    `SELECT pq_key, name, kind, created_at, expires_at, session_id, message IS NOT NULL AS used
       FROM provisioning WHERE address = $1 AND user_id = $2`,
    [address, userId],
  );
  const x = r.rows[0];
  if (!x) return null;
  return {
    pqKey: x.pq_key,
    name: x.name,
    kind: x.kind,
    createdAt: x.created_at,
    expiresAt: x.expires_at,
    sessionId: x.session_id,
    used: x.used,
  };
}

/**
 * Stores the sealed message of device `deviceId` at `address`, once: true when stored, false when
 * the address is gone, expired or already used, or the device was removed meanwhile (the caller
 * reads it again to say which). Inside the caller's transaction: a share lock on the account row
 * orders it with device removal (which holds the account lock), so a message is never left
 * behind by a device removed at the same moment; of two concurrent PUTs exactly one stores.
 */
export async function putMessage(
  tx: Queryable,
  userId: string,
  deviceId: number,
  address: Buffer,
  message: Buffer,
  now: Date,
): Promise<boolean> {
  await tx.query('SELECT 1 FROM users WHERE id = $1 FOR SHARE', [userId]);
  const r = await tx.query(
    `UPDATE provisioning SET message = $4, put_at = $5, put_device_id = $3
      WHERE address = $1 AND user_id = $2 AND message IS NULL AND expires_at > $5
        AND EXISTS (SELECT 1 FROM devices d WHERE d.user_id = $2 AND d.device_id = $3 AND d.removed_at IS NULL)`,
    [address, userId, deviceId, message, now],
  );
  return r.rowCount === 1;
}

/**
 * The message at `address` for its opening session, handed out once: the row is deleted by the
 * statement that returns it, which also marks the session provisioned (the approval a LINK needs). `waiting`: not there yet; `expired`; `unknown`: not this session's.
 */
export async function takeMessage(
  db: Queryable,
  userId: string,
  sessionId: string,
  address: Buffer,
  now: Date,
): Promise<{ kind: 'message'; message: Buffer } | { kind: 'waiting' | 'expired' | 'unknown' }> {
  // The same statement marks the session as provisioned: only such a session may then create a
  // linked device (POST /keys, keys/store.ts applyUpload; migration 0072).
  const taken = await db.query<{ message: Buffer }>(
    `WITH taken AS (
       DELETE FROM provisioning
        WHERE address = $1 AND user_id = $2 AND session_id = $3 AND message IS NOT NULL AND expires_at > $4
        RETURNING message),
     mark AS (
       UPDATE sessions SET provisioned_at = $4
        WHERE id = $3 AND user_id = $2 AND EXISTS (SELECT 1 FROM taken))
     SELECT message FROM taken`,
    [address, userId, sessionId, now],
  );
  const got = taken.rows[0];
  if (got) return { kind: 'message', message: got.message };
  const row = await readAddress(db, userId, address);
  if (!row || row.sessionId !== sessionId) return { kind: 'unknown' };
  if (row.expiresAt.getTime() <= now.getTime()) return { kind: 'expired' };
  return { kind: 'waiting' };
}

/** The periodic sweep (src/jobs/periodic.ts): deletes expired addresses and any message they hold. */
export async function sweepProvisioning(db: Queryable, now: Date): Promise<number> {
  const r = await db.query('DELETE FROM provisioning WHERE expires_at <= $1', [now]);
  return r.rowCount ?? 0;
}
