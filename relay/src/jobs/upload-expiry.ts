// Expiry of resumable photo uploads (spec/openapi.yaml POST /uploads): unfinished uploads past
// PHOTO_UPLOAD_EXPIRY_SECONDS lose their row and their files. Run by periodic.ts.
import { readdir, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { AppDeps } from '../deps.js';
import { uploadDir } from '../photos/uploads.js';

/**
 * Deletes unfinished uploads past their expiry (rows and files), and files left without a row
 * (a crash between steps). Idempotent; safe in several processes.
 */
export async function sweepUploads(deps: AppDeps, now: Date): Promise<number> {
  const dir = uploadDir(deps);
  const r = await deps.pool.query<{ id: string }>(
    'DELETE FROM photo_uploads WHERE expires_at <= $1 RETURNING id',
    [now],
  );
  const gone = async (id: string) => {
    await unlink(join(dir, id)).catch(() => undefined);
    await unlink(join(dir, `${id}.json`)).catch(() => undefined);
  };
  await Promise.all(r.rows.map((x) => gone(x.id)));
  // Every PATCH touches its file, so a file untouched for longer than the expiry belongs to an
  // upload whose row has expired (or never committed): no live upload is removed here.
  for (const file of await readdir(dir)) {
    const info = await stat(join(dir, file)).catch(() => null);
    if (info && now.getTime() - info.mtimeMs > deps.config.messaging.photoUploadExpiryMs)
      await unlink(join(dir, file)).catch(() => undefined);
  }
  return r.rows.length;
}
