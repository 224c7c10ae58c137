// Photo rows (migration 0024) and their files under DATA_DIR/photos. A row's file_path is the
// random name of its file; both are removed together (acknowledgement, retention sweep).
import { randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { unlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { PoolClient } from '../db/pool.js';
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

/** Deletes the photos among `ids` that `userId` received; returns how many. */
export async function ackPhotos(deps: AppDeps, userId: string, ids: string[]): Promise<number> {
  const valid = ids.filter((id) => UUID.test(id));
  if (valid.length === 0) return 0;
  const r = await deps.pool.query<{ file_path: string }>(
    'DELETE FROM photos WHERE receiver_id = $1 AND id = ANY($2::uuid[]) RETURNING file_path',
    [userId, valid],
  );
  await removeFiles(
    photoDir(deps),
    r.rows.map((x) => x.file_path),
  );
  return r.rows.length;
}
