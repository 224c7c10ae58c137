// Photo rows (migration 0024) and their files under DATA_DIR/photos. A row's file_path is the
// random name of its file; both are removed together (acknowledgement, retention sweep).
import { randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { unlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { AppDeps } from '../deps.js';

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
