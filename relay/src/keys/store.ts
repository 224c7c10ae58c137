// SQL for key material (migrations 0021, 0030). The relay stores and hands out bytes; it never
// interprets them (spec/protocol.md §4).
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type pg from 'pg';
import type { Queryable } from '../db/pool.js';
import { type DeviceKind, MAX_DEVICE_NAME_CHARS } from '../devices/limits.js';
import {
  bindSession,
  createDevice,
  describeDevice,
  deviceState,
  lockAccount,
  removeDevices,
} from '../devices/store.js';
import { type BucketSpec, takeToken } from '../limits/token-bucket.js';
import { appendAccountItem, lockStreamCounters } from '../messages/stream.js';
import { MAX_STORED_PQ_PREKEYS, MAX_STORED_PREKEYS } from './limits.js';

export interface SignedKey {
  keyId: number;
  publicKey: Buffer;
  signature: Buffer;
}
export interface OneTimeKey {
  keyId: number;
  publicKey: Buffer;
}
export interface KeyUpload {
  identityKey?: Buffer | undefined;
  signedPrekey?: SignedKey | undefined;
  pqPrekey?: SignedKey | undefined;
  oneTimePrekeys?: OneTimeKey[] | undefined;
  oneTimePqPrekeys?: SignedKey[] | undefined;
}

/** One-time prekey stocks: X25519 (`x25519`) and ML-KEM-768 (`pq`). */
export interface Stocks {
  x25519: number;
  pq: number;
}

export type UploadOutcome =
  | {
      kind: 'ok';
      identityChanged: boolean;
      /** The device the upload applied to (the caller's session is bound to it). */
      deviceId: number;
      /** A device was created for this session (first identity, link or start over). */
      created: boolean;
      /** Devices removed by a start over. */
      removed: number[];
      /**
       * A new RESUME secret of the caller's device (spec/protocol.md §16.9), returned once:
       * for a device created here, or a device made before secrets existed, resumed here.
       */
      resumeSecret: Buffer | null;
      stocks: Stocks;
      notified: { userId: string; seq: number }[];
    }
  | { kind: 'no_identity' }
  | { kind: 'reauth_required' }
  | { kind: 'identity_taken' }
  | { kind: 'rate_limited'; retryAfterSeconds: number }
  | { kind: 'device_required' }
  | { kind: 'device_removed' }
  | { kind: 'device_limit'; limit: number }
  | { kind: 'device_mismatch' }
  | { kind: 'resume_refused' }
  | { kind: 'provisioning_required' }
  | { kind: 'stale_prekey'; which: 'signed_prekey' | 'pq_prekey' }
  | { kind: 'too_many'; which: 'one_time_prekeys' | 'one_time_pq_prekeys'; stored: number; max: number }
  | { kind: 'duplicate_key_id'; which: 'one_time_prekeys' | 'one_time_pq_prekeys' };

// Announces a changed identity key to the users the owner has added as contacts (never to
// users who merely added the owner: spec/openapi.yaml POST /keys), as a 'key_change' item in
// each one's stream (stream_take_seq, migration 0060; targets taken in id order: the ordered
// subquery is not flattened, so the calls follow its order).
const ANNOUNCE = `
WITH alloc AS (
  SELECT t.id AS user_id, stream_take_seq(p_user => t.id) AS seq
    FROM (SELECT contact_id AS id FROM contacts WHERE user_id = $1 ORDER BY contact_id) t
)
INSERT INTO stream_events (user_id, seq, kind, subject_id, created_at)
SELECT user_id, seq, 'key_change', $1, $2 FROM alloc
RETURNING user_id, seq`;

// Tells the owner's other sessions (spec/openapi.yaml GET /ws identity_replaced): an item in the
// owner's own stream that every session but $3, the one that made the change, receives.
const TELL_OWNER = `
INSERT INTO stream_events (user_id, seq, kind, subject_id, origin_session_id, created_at)
VALUES ($1, stream_take_seq(p_user => $1), 'identity_replaced', $1, $3, $2)
RETURNING user_id, seq`;

/** The unique index of migration 0030: one identity key names one account. */
export const IDENTITY_KEY_INDEX = 'identity_keys_public_key';

/** True for PostgreSQL's unique violation on `constraint` (a concurrent claim of the same row). */
export function isUniqueViolation(err: unknown, constraint: string): boolean {
  const e = err as { code?: unknown; constraint?: unknown } | null;
  return typeof e === 'object' && e !== null && e.code === '23505' && e.constraint === constraint;
}

export interface DeviceRequest {
  /** RESUME: the device this app already is (its store kept the id). */
  deviceId?: number | undefined;
  /** RESUME: the secret the relay gave that device when it created it (spec/protocol.md §16.9). */
  resumeSecret?: Buffer | undefined;
  /** The description of a device created by this upload; else the session's client description. */
  device?: { name: string; kind: DeviceKind } | undefined;
}

/**
 * Applies an upload in one transaction (caller provides `tx`, already inside BEGIN) and tells
 * what happened; the caller rolls back on any outcome but 'ok', so an upload is applied
 * entirely or not at all. The proof of the identity key (spec/protocol.md §4.6) is checked by
 * the caller before. `identityChange` limits replacements of the identity key.
 *
 * Devices (spec/protocol.md §16): prekeys belong to the caller's device. A device-less session
 * gets one here, by its identity upload: the account's first identity key makes device 1; the
 * published identity key again makes a new linked device (under `deviceLimit`), or with
 * `deviceId` RESUMES that device if it is still active; a different identity key is a START OVER
 * (the reinstall path, fresh second factor required) that removes every other device of the
 * account before the contacts are told of the new key.
 */
export async function applyUpload(
  tx: pg.PoolClient,
  userId: string,
  up: KeyUpload & DeviceRequest,
  now: Date,
  limits: { identityChange: BucketSpec; deviceLimit: number },
  caller: {
    sessionId: string;
    /** The device the session is bound to, null while device-less. */
    deviceId: number | null;
    /** The session proved the second factor recently (auth/sessions.ts REAUTH_WINDOW_MS). */
    freshlyAuthenticated: () => Promise<boolean>;
  },
): Promise<UploadOutcome> {
  // The user row lock serialises the uploads and device changes of one account (the stock
  // counts, the device count and the id checks below stay exact), also the very first upload,
  // when no key row exists yet to lock.
  await lockAccount(tx, userId);
  const cur = await tx.query<{ public_key: Buffer }>(
    'SELECT public_key FROM identity_keys WHERE user_id = $1',
    [userId],
  );
  const existing = cur.rows[0]?.public_key;
  let identityChanged = false;
  let notified: { userId: string; seq: number }[] = [];
  let device = caller.deviceId;
  let created = false;
  let removed: number[] = [];
  let resumeSecret: Buffer | null = null;
  if (device !== null && up.deviceId !== undefined && up.deviceId !== device)
    return { kind: 'device_mismatch' };
  // The session's device may have been removed while this request waited for the lock (its
  // session is revoked by then): nothing is stored for a removed device.
  if (device !== null && (await deviceState(tx, userId, device)) !== 'active')
    return { kind: 'device_removed' };

  const newDevice = async (): Promise<number | null> => {
    const description = up.device ?? (await sessionDescription(tx, caller.sessionId));
    const id = await createDevice(tx, userId, description, now, limits.deviceLimit);
    if (id === null) return null;
    resumeSecret = await issueResumeSecret(tx, userId, id);
    await bindSession(tx, userId, caller.sessionId, id, now);
    created = true;
    return id;
  };

  // RESUME is checked first, whatever key comes with it: a removed device logging in again must
  // learn that it was removed, never re-key the account (a start over from it would remove the
  // devices that replaced it). An active device always holds the published identity (a start
  // over removes every other one), so a different key from it is refused the same way.
  if (device === null && up.deviceId !== undefined) {
    if (
      !up.identityKey ||
      !existing?.equals(up.identityKey) ||
      (await deviceState(tx, userId, up.deviceId)) !== 'active'
    )
      return up.identityKey ? { kind: 'device_removed' } : { kind: 'device_required' };
    // The identity proof is not a per-device credential (every device, and a stolen copy of any
    // device's storage, can make it) and device ids are public (GET /identity): only the device's
    // own resume secret lets a session take it over (spec/protocol.md §16.9).
    const check = await checkResumeSecret(tx, userId, up.deviceId, up.resumeSecret, caller.sessionId, now);
    if (check === 'refused') return { kind: 'resume_refused' };
    if (check === 'issue') resumeSecret = await issueResumeSecret(tx, userId, up.deviceId);
  }

  if (up.identityKey) {
    if (!existing) {
      // A conflict here can only be another account's row: this user has none (checked under the lock).
      const ins = await tx.query(
        `INSERT INTO identity_keys (user_id, public_key, created_at, updated_at) VALUES ($1, $2, $3, $3)
         ON CONFLICT DO NOTHING`,
        [userId, up.identityKey, now],
      );
      if (!ins.rowCount) return { kind: 'identity_taken' };
      if (device === null) {
        device = await newDevice();
        if (device === null) return { kind: 'device_limit', limit: limits.deviceLimit };
      }
    } else if (existing.equals(up.identityKey)) {
      if (device === null) {
        if (up.deviceId !== undefined) {
          // RESUME: the same app logging in again keeps its device while it is active (checked above).
          device = up.deviceId;
          await bindSession(tx, userId, caller.sessionId, device, now);
        } else {
          // LINK: a new device holding the account's identity key (it came from a linked
          // device's provisioning message): no key change for anyone; the account's other
          // devices get a devices_changed item (their own-device lists changed).
          // Only a session that fetched a provisioning message sealed by an active device of the
          // account may link (Signal's provisioning code): the identity proof is a fixed
          // signature that a removed device can still make, so with a login alone it could
          // add itself back, unapproved (spec/protocol.md §16.8, §16.9).
          if (!(await sessionProvisioned(tx, caller.sessionId))) return { kind: 'provisioning_required' };
          device = await newDevice();
          if (device === null) return { kind: 'device_limit', limit: limits.deviceLimit };
          notified.push(await appendAccountItem(tx, 'devices_changed', userId, caller.sessionId, now));
        }
      }
    } else {
      const taken = await tx.query('SELECT 1 FROM identity_keys WHERE public_key = $1', [up.identityKey]);
      if (taken.rowCount) return { kind: 'identity_taken' };
      // Step-up: a live token alone (a stolen refresh token) must not re-key the account.
      if (!(await caller.freshlyAuthenticated())) return { kind: 'reauth_required' };
      // A reinstall warns every contact, so it is rate-limited (spec/openapi.yaml POST /keys).
      // The token is taken in this transaction: a refused upload later on gives it back.
      const token = await takeToken(tx, userId, limits.identityChange, now);
      if (!token.ok) return { kind: 'rate_limited', retryAfterSeconds: token.retryAfterSeconds };
      identityChanged = true;
      // Every stream counter this start over takes — the owner's (its devices' mailboxes, its
      // identity_replaced item) and its contacts' (their key_change items) — now, in user id
      // order: the order of a single send and of the retention sweep (src/messages/expiry.ts).
      // Taking the owner's first, then the contacts', deadlocked with either.
      const contacts = await tx.query<{ id: string }>(
        'SELECT contact_id AS id FROM contacts WHERE user_id = $1',
        [userId],
      );
      await lockStreamCounters(tx, [userId, ...contacts.rows.map((c) => c.id)]);
      await tx.query('UPDATE identity_keys SET public_key = $2, updated_at = $3 WHERE user_id = $1', [
        userId,
        up.identityKey,
        now,
      ]);
      // START OVER: every other device held the old identity: removed (sessions revoked, prekeys,
      // mailbox and provisioning deleted) before anyone hears of the new key.
      removed = await removeDevices(tx, userId, { except: device }, 'start_over', now);
      // The caller's own old prekeys were signed by the old identity and can never be used
      // again; ids start over.
      if (device !== null)
        for (const table of ['signed_prekeys', 'one_time_prekeys', 'one_time_pq_prekeys'])
          await tx.query(`DELETE FROM ${table} WHERE user_id = $1 AND device_id = $2`, [userId, device]);
      else {
        device = await newDevice();
        if (device === null) return { kind: 'device_limit', limit: limits.deviceLimit };
      }
      const r = await tx.query<{ user_id: string; seq: string }>(ANNOUNCE, [userId, now]);
      const own = await tx.query<{ user_id: string; seq: string }>(TELL_OWNER, [
        userId,
        now,
        caller.sessionId,
      ]);
      notified = [...r.rows, ...own.rows].map((x) => ({ userId: x.user_id, seq: Number(x.seq) }));
    }
  } else if (!existing) {
    return { kind: 'no_identity' };
  }
  // Prekeys belong to a device; a device-less session gets one only with its identity upload.
  if (device === null) return { kind: 'device_required' };
  if (!created && up.device) await describeDevice(tx, userId, device, up.device);

  for (const [kind, which, key] of [
    ['x25519', 'signed_prekey', up.signedPrekey],
    ['mlkem768', 'pq_prekey', up.pqPrekey],
  ] as const) {
    if (!key) continue;
    const stored = await tx.query<{ key_id: string; public_key: Buffer; signature: Buffer }>(
      'SELECT key_id, public_key, signature FROM signed_prekeys WHERE user_id = $1 AND device_id = $2 AND kind = $3',
      [userId, device, kind],
    );
    const old = stored.rows[0];
    if (old) {
      // Only the newest is kept, and ids only move forward (spec/openapi.yaml POST /keys): an
      // old id would bring back a key whose secret its owner may already have deleted. The
      // same id with the same bytes is a retried upload whose answer was lost.
      const oldId = Number(old.key_id);
      if (key.keyId === oldId && old.public_key.equals(key.publicKey) && old.signature.equals(key.signature))
        continue;
      if (key.keyId <= oldId) return { kind: 'stale_prekey', which };
    }
    await tx.query(
      `INSERT INTO signed_prekeys (user_id, device_id, kind, key_id, public_key, signature, updated_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7)
       ON CONFLICT (user_id, device_id, kind) DO UPDATE
         SET key_id = EXCLUDED.key_id, public_key = EXCLUDED.public_key,
             signature = EXCLUDED.signature, updated_at = EXCLUDED.updated_at`,
      [userId, device, kind, key.keyId, key.publicKey, key.signature, now],
    );
  }

  const stocks = await countPrekeys(tx, userId, device);
  const x = up.oneTimePrekeys ?? [];
  if (x.length) {
    if (stocks.x25519 + x.length > MAX_STORED_PREKEYS)
      return { kind: 'too_many', which: 'one_time_prekeys', stored: stocks.x25519, max: MAX_STORED_PREKEYS };
    const ids = x.map((k) => k.keyId);
    const dup = await tx.query(
      'SELECT 1 FROM one_time_prekeys WHERE user_id = $1 AND device_id = $2 AND key_id = ANY($3::bigint[]) LIMIT 1',
      [userId, device, ids],
    );
    if (dup.rowCount) return { kind: 'duplicate_key_id', which: 'one_time_prekeys' };
    await tx.query(
      `INSERT INTO one_time_prekeys (user_id, device_id, key_id, public_key, created_at)
       SELECT $1, $2, k, p, $5 FROM unnest($3::bigint[], $4::bytea[]) AS t(k, p)`,
      [userId, device, ids, x.map((k) => k.publicKey), now],
    );
    stocks.x25519 += x.length;
  }
  const pq = up.oneTimePqPrekeys ?? [];
  if (pq.length) {
    if (stocks.pq + pq.length > MAX_STORED_PQ_PREKEYS)
      return {
        kind: 'too_many',
        which: 'one_time_pq_prekeys',
        stored: stocks.pq,
        max: MAX_STORED_PQ_PREKEYS,
      };
    const ids = pq.map((k) => k.keyId);
    const dup = await tx.query(
      'SELECT 1 FROM one_time_pq_prekeys WHERE user_id = $1 AND device_id = $2 AND key_id = ANY($3::bigint[]) LIMIT 1',
      [userId, device, ids],
    );
    if (dup.rowCount) return { kind: 'duplicate_key_id', which: 'one_time_pq_prekeys' };
    await tx.query(
      `INSERT INTO one_time_pq_prekeys (user_id, device_id, key_id, public_key, signature, created_at)
       SELECT $1, $2, k, p, s, $6 FROM unnest($3::bigint[], $4::bytea[], $5::bytea[]) AS t(k, p, s)`,
      [userId, device, ids, pq.map((k) => k.publicKey), pq.map((k) => k.signature), now],
    );
    stocks.pq += pq.length;
  }
  return { kind: 'ok', identityChanged, deviceId: device, created, removed, resumeSecret, stocks, notified };
}

/** Bytes of a device's resume secret (spec/openapi.yaml POST /keys resume_secret). */
export const RESUME_SECRET_BYTES = 32;

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest();

/** Draws a new resume secret for `deviceId` and stores only its SHA-256 (migration 0073). */
async function issueResumeSecret(tx: Queryable, userId: string, deviceId: number): Promise<Buffer> {
  const secret = randomBytes(RESUME_SECRET_BYTES);
  await tx.query('UPDATE devices SET resume_secret_hash = $3 WHERE user_id = $1 AND device_id = $2', [
    userId,
    deviceId,
    sha256(secret),
  ]);
  return secret;
}

/**
 * May session `sessionId` RESUME active device `deviceId` with `presented`? 'ok' when the
 * device's stored hash matches (compared in constant time). A device made before migration
 * 0073 has no hash: 'issue' (resume, and give it a secret from now on) only while no other live
 * session is bound to it, so a thief cannot join a device its owner is still using; its owner,
 * logging in again after its sessions ended, cannot be told from a thief with the same storage
 * (the residual risk of spec/protocol.md §16.9). Anything else: 'refused'.
 */
async function checkResumeSecret(
  tx: Queryable,
  userId: string,
  deviceId: number,
  presented: Buffer | undefined,
  sessionId: string,
  now: Date,
): Promise<'ok' | 'issue' | 'refused'> {
  const r = await tx.query<{ hash: Buffer | null; busy: boolean }>(
    `SELECT d.resume_secret_hash AS hash,
            EXISTS (SELECT 1 FROM sessions s
                     WHERE s.user_id = d.user_id AND s.device_id = d.device_id AND s.id <> $3
                       AND s.revoked_at IS NULL AND s.expires_at > $4) AS busy
       FROM devices d WHERE d.user_id = $1 AND d.device_id = $2`,
    [userId, deviceId, sessionId, now],
  );
  const row = r.rows[0];
  if (!row) return 'refused';
  if (row.hash === null) return row.busy ? 'refused' : 'issue';
  if (!presented) return 'refused';
  return timingSafeEqual(sha256(presented), row.hash) ? 'ok' : 'refused';
}

/** Whether session `sessionId` fetched a provisioning message (migration 0072). */
async function sessionProvisioned(tx: Queryable, sessionId: string): Promise<boolean> {
  const r = await tx.query<{ ok: boolean }>(
    'SELECT provisioned_at IS NOT NULL AS ok FROM sessions WHERE id = $1',
    [sessionId],
  );
  return r.rows[0]?.ok === true;
}

/** A device created without a description is named after the session's client ("Firefox on Android"). */
async function sessionDescription(
  tx: Queryable,
  sessionId: string,
): Promise<{ name: string; kind: DeviceKind }> {
  const r = await tx.query<{ client: string | null }>('SELECT client FROM sessions WHERE id = $1', [
    sessionId,
  ]);
  const client = r.rows[0]?.client;
  const name =
    client && client.length >= 1 && [...client].length <= MAX_DEVICE_NAME_CHARS ? client : 'Device';
  return { name, kind: 'other' };
}

/** One-time prekey stocks of one device. */
export async function countPrekeys(db: Queryable, userId: string, deviceId: number): Promise<Stocks> {
  const r = await db.query<{ x: string; pq: string }>(
    `SELECT (SELECT count(*) FROM one_time_prekeys WHERE user_id = $1 AND device_id = $2) AS x,
            (SELECT count(*) FROM one_time_pq_prekeys WHERE user_id = $1 AND device_id = $2) AS pq`,
    [userId, deviceId],
  );
  return { x25519: Number(r.rows[0]?.x ?? 0), pq: Number(r.rows[0]?.pq ?? 0) };
}

export interface KeyStatus {
  identityKey: Buffer | null;
  signedPrekeyId: number | null;
  pqPrekeyId: number | null;
  stocks: Stocks;
}

/** The account's identity key and `deviceId`'s prekeys (none for a device-less session: null). */
export async function keyStatus(db: Queryable, userId: string, deviceId: number | null): Promise<KeyStatus> {
  const r = await db.query<{
    public_key: Buffer | null;
    spk: string | null;
    pq: string | null;
    n: string;
    npq: string;
  }>(
    `SELECT (SELECT public_key FROM identity_keys WHERE user_id = $1) AS public_key,
            (SELECT key_id FROM signed_prekeys WHERE user_id = $1 AND device_id = $2 AND kind = 'x25519') AS spk,
            (SELECT key_id FROM signed_prekeys WHERE user_id = $1 AND device_id = $2 AND kind = 'mlkem768') AS pq,
            (SELECT count(*) FROM one_time_prekeys WHERE user_id = $1 AND device_id = $2) AS n,
            (SELECT count(*) FROM one_time_pq_prekeys WHERE user_id = $1 AND device_id = $2) AS npq`,
    [userId, deviceId],
  );
  const row = r.rows[0];
  return {
    identityKey: row?.public_key ?? null,
    signedPrekeyId: row?.spk == null ? null : Number(row.spk),
    pqPrekeyId: row?.pq == null ? null : Number(row.pq),
    stocks: { x25519: Number(row?.n ?? 0), pq: Number(row?.npq ?? 0) },
  };
}

export interface DeviceBundle {
  deviceId: number;
  signedPrekey: SignedKey;
  pqPrekey: SignedKey;
}

export interface Bundles {
  userId: string;
  identityKey: Buffer;
  devices: DeviceBundle[];
}

// The complete bundles of a user's active devices: the identity key and both signed prekeys of
// each. $2: only these device ids (NULL: all); $3/$4: leave out this (account, device), the
// caller's own device when it fetches its own account's bundles.
const BUNDLES = `
SELECT u.id, i.public_key AS ik, d.device_id,
       s.key_id AS s_id, s.public_key AS s_pk, s.signature AS s_sig,
       q.key_id AS q_id, q.public_key AS q_pk, q.signature AS q_sig
  FROM users u
  JOIN identity_keys i ON i.user_id = u.id
  JOIN devices d ON d.user_id = u.id AND d.removed_at IS NULL
  JOIN signed_prekeys s ON s.user_id = u.id AND s.device_id = d.device_id AND s.kind = 'x25519'
  JOIN signed_prekeys q ON q.user_id = u.id AND q.device_id = d.device_id AND q.kind = 'mlkem768'
 WHERE u.username = $1 AND u.status = 'active'
   AND ($2::int[] IS NULL OR d.device_id = ANY($2::int[]))
   AND NOT (u.id = $3::uuid AND d.device_id = $4::int)
 ORDER BY d.device_id`;

/**
 * The published bundles of `username`'s active devices (only `deviceIds` when given; never
 * `exclude`), or null when no device has a complete bundle (or the user does not exist).
 */
export async function readBundles(
  db: Queryable,
  username: string,
  deviceIds: number[] | null,
  exclude: { userId: string; deviceId: number },
): Promise<Bundles | null> {
  const r = await db.query<{
    id: string;
    ik: Buffer;
    device_id: number;
    s_id: string;
    s_pk: Buffer;
    s_sig: Buffer;
    q_id: string;
    q_pk: Buffer;
    q_sig: Buffer;
  }>(BUNDLES, [username, deviceIds, exclude.userId, exclude.deviceId]);
  const first = r.rows[0];
  if (!first) return null;
  return {
    userId: first.id,
    identityKey: first.ik,
    devices: r.rows.map((x) => ({
      deviceId: x.device_id,
      signedPrekey: { keyId: Number(x.s_id), publicKey: x.s_pk, signature: x.s_sig },
      pqPrekey: { keyId: Number(x.q_id), publicKey: x.q_pk, signature: x.q_sig },
    })),
  };
}

export interface PublishedIdentity {
  identityKey: Buffer;
  devices: { deviceId: number; signedPrekeyId: number; pqPrekeyId: number }[];
}

// The same condition as BUNDLES (complete bundles of active devices), reading ids only and taking nothing.
const IDENTITY = `
SELECT i.public_key AS ik, d.device_id, s.key_id AS s_id, q.key_id AS q_id
  FROM users u
  JOIN identity_keys i ON i.user_id = u.id
  JOIN devices d ON d.user_id = u.id AND d.removed_at IS NULL
  JOIN signed_prekeys s ON s.user_id = u.id AND s.device_id = d.device_id AND s.kind = 'x25519'
  JOIN signed_prekeys q ON q.user_id = u.id AND q.device_id = d.device_id AND q.kind = 'mlkem768'
 WHERE u.username = $1 AND u.status = 'active'
 ORDER BY d.device_id`;

/** The identity key and, per active device with a complete bundle, its signed prekey ids; or null (as readBundles). */
export async function readIdentity(db: Queryable, username: string): Promise<PublishedIdentity | null> {
  const r = await db.query<{ ik: Buffer; device_id: number; s_id: string; q_id: string }>(IDENTITY, [
    username,
  ]);
  const first = r.rows[0];
  if (!first) return null;
  return {
    identityKey: first.ik,
    devices: r.rows.map((x) => ({
      deviceId: x.device_id,
      signedPrekeyId: Number(x.s_id),
      pqPrekeyId: Number(x.q_id),
    })),
  };
}

// Hands out the oldest one-time prekey of each listed device exactly once, in one statement:
// each row is locked with SKIP LOCKED (two concurrent fetches never wait for, nor get, the same
// row) and deleted by the same statement. The counts are taken from the statement's snapshot,
// which still includes the rows it deletes. `cols`: the key columns returned.
const takeSql = (table: string, cols: string[]) => `
WITH d AS (SELECT DISTINCT unnest($2::int[]) AS device_id),
pick AS (
  SELECT x.id FROM d, LATERAL (
    SELECT p.id FROM ${table} p WHERE p.user_id = $1 AND p.device_id = d.device_id
     ORDER BY p.id LIMIT 1 FOR UPDATE SKIP LOCKED) x
),
taken AS (
  DELETE FROM ${table} WHERE id IN (SELECT id FROM pick)
  RETURNING device_id, ${cols.join(', ')}
)
SELECT d.device_id, ${cols.map((c) => `t.${c}`).join(', ')},
       (SELECT count(*) FROM ${table} c WHERE c.user_id = $1 AND c.device_id = d.device_id) AS before
  FROM d LEFT JOIN taken t ON t.device_id = d.device_id`;
const TAKE_OPK = takeSql('one_time_prekeys', ['key_id', 'public_key']);
const TAKE_PQ = takeSql('one_time_pq_prekeys', ['key_id', 'public_key', 'signature']);

/** Per device: the one-time key taken (null when none was left) and how many remain. */
export type Taken<K> = Map<number, { key: K | null; remaining: number }>;

/** Takes one one-time X25519 prekey of each of `deviceIds` of `userId`. */
export async function takeOneTimePrekeys(
  db: Queryable,
  userId: string,
  deviceIds: number[],
): Promise<Taken<OneTimeKey>> {
  const r = await db.query<{
    device_id: number;
    key_id: string | null;
    public_key: Buffer | null;
    before: string;
  }>(TAKE_OPK, [userId, deviceIds]);
  const out: Taken<OneTimeKey> = new Map();
  for (const row of r.rows) {
    const before = Number(row.before);
    out.set(
      row.device_id,
      row.public_key && row.key_id !== null
        ? {
            key: { keyId: Number(row.key_id), publicKey: row.public_key },
            remaining: Math.max(0, before - 1),
          }
        : { key: null, remaining: before },
    );
  }
  return out;
}

/** Takes one one-time ML-KEM-768 prekey of each of `deviceIds` of `userId` (migration 0030). */
export async function takeOneTimePqPrekeys(
  db: Queryable,
  userId: string,
  deviceIds: number[],
): Promise<Taken<SignedKey>> {
  const r = await db.query<{
    device_id: number;
    key_id: string | null;
    public_key: Buffer | null;
    signature: Buffer | null;
    before: string;
  }>(TAKE_PQ, [userId, deviceIds]);
  const out: Taken<SignedKey> = new Map();
  for (const row of r.rows) {
    const before = Number(row.before);
    out.set(
      row.device_id,
      row.public_key && row.signature && row.key_id !== null
        ? {
            key: { keyId: Number(row.key_id), publicKey: row.public_key, signature: row.signature },
            remaining: Math.max(0, before - 1),
          }
        : { key: null, remaining: before },
    );
  }
  return out;
}
