// Photo rows (migrations 0024, 0071) and their files under DATA_DIR/photos. A row's file_path is
// the random name of its file; both are removed together (the last acknowledgement, retention
// sweep). A photo is uploaded once and read by several devices: its photo_targets rows.
import { randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { type PoolClient, withTransaction } from '../db/pool.js';
import type { AppDeps } from '../deps.js';
import { HttpError } from '../http/http-error.js';

export const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** The photo directory of this relay, created (0700) when missing. */
export function photoDir(deps: Pick<AppDeps, 'config'>): string {
  const dir = join(deps.config.dataDir, 'photos');
  if (!made.has(dir)) {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    made.add(dir);
  }
  return dir;
}
const made = new Set<string>();

export const quotaFull = () =>
  new HttpError(409, 'photo_quota', 'too many photos not yet acknowledged by their receivers');

/** First key of the per-sender advisory lock that serialises the quota check with the insert. */
const PHOTO_QUOTA_LOCK = 0x5d_70_01;

/**
 * Inside a transaction: takes the sender's quota lock (held until commit) and answers how many
 * photos the sender has pending — stored ones and unfinished resumable uploads. Parallel uploads
 * that all passed an early check therefore cannot together exceed MAX_PENDING_PHOTOS.
 */
export async function lockPendingPhotos(client: PoolClient, senderId: string): Promise<number> {
  await client.query('SELECT pg_advisory_xact_lock($1, hashtext($2))', [PHOTO_QUOTA_LOCK, senderId]);
  const r = await client.query<{ n: number }>(
    `SELECT (SELECT count(*) FROM photos WHERE sender_id = $1)::int
          + (SELECT count(*) FROM photo_uploads WHERE sender_id = $1)::int AS n`,
    [senderId],
  );
  return r.rows[0]?.n ?? 0;
}

/** 128 random bits as hex: the stored name never comes from the client and cannot be guessed. */
export const newPhotoName = () => randomBytes(16).toString('hex');

export async function removeFiles(dir: string, names: string[]): Promise<void> {
  await Promise.all(names.map((n) => unlink(join(dir, n)).catch(() => undefined)));
}

/**
 * Inside the transaction that inserts photo `photoId`: its readers that must acknowledge it
 * (migration 0071, photo_targets) — every device active now in the receiver's account and in the
 * sender's but the uploading one. The photo is deleted once all of them acknowledged it.
 */
export async function addPhotoTargets(
  client: PoolClient,
  photoId: string,
  senderId: string,
  senderDevice: number,
  receiverId: string,
): Promise<void> {
  await client.query(
    `INSERT INTO photo_targets (photo_id, user_id, device_id)
     SELECT $1, d.user_id, d.device_id FROM devices d
      WHERE d.removed_at IS NULL
        AND (d.user_id = $3 OR (d.user_id = $2 AND d.device_id <> $4))`,
    [photoId, senderId, receiverId, senderDevice],
  );
}

/**
 * Device `deviceId` of `userId` acknowledges the photos among `ids` it was to read (its
 * photo_targets rows); a photo whose last reader this was is deleted with its file. The photo
 * rows are locked first, so of two devices acknowledging the same photo at once the second sees
 * the first's acknowledgement and deletes it. Returns how many acknowledgements were taken.
 */
export async function ackPhotos(
  deps: AppDeps,
  userId: string,
  deviceId: number,
  ids: string[],
): Promise<number> {
  const valid = [...new Set(ids.filter((id) => UUID.test(id)))];
  if (valid.length === 0) return 0;
  const { acked, files } = await withTransaction(deps.pool, async (client) => {
    await client.query('SELECT 1 FROM photos WHERE id = ANY($1::uuid[]) ORDER BY id FOR UPDATE', [valid]);
    const t = await client.query<{ photo_id: string }>(
      `DELETE FROM photo_targets WHERE user_id = $1 AND device_id = $2 AND photo_id = ANY($3::uuid[])
       RETURNING photo_id`,
      [userId, deviceId, valid],
    );
    if (t.rows.length === 0) return { acked: 0, files: [] as string[] };
    const p = await client.query<{ file_path: string }>(
      `DELETE FROM photos p WHERE p.id = ANY($1::uuid[])
          AND NOT EXISTS (SELECT 1 FROM photo_targets t WHERE t.photo_id = p.id)
       RETURNING p.file_path`,
      [t.rows.map((x) => x.photo_id)],
    );
    return { acked: t.rows.length, files: p.rows.map((x) => x.file_path) };
  });
  await removeFiles(photoDir(deps), files);
  return acked;
}
