// Retention (spec/openapi.yaml POST /send_message and POST /ack; SECURITY.md): messages and photos never acknowledged, tombstones of acknowledged
// messages, and stream events are deleted RETENTION_DAYS after they were created (a device is
// told of the copies it never read: src/messages/expiry.ts); idle rate
// buckets and upload leftovers (*.part files of a crashed process) are removed too. Safe to
// run in several processes at once: every step is an idempotent DELETE/unlink. Run by
// periodic.ts.
import { readdir, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { sweepAuthState } from '../auth/cleanup.js';
import type { AppDeps } from '../deps.js';
import { expireMessages } from '../messages/expiry.js';
import { photoDir, removeFiles } from '../photos/store.js';

const BATCH = 5000;
const DAY_MS = 86_400_000;
/** A .part file older than this is no upload in progress (the HTTP request timeout is far shorter). */
const STALE_PART_MS = 3_600_000;

export interface SweepResult {
  messages: number;
  events: number;
  photos: number;
}

async function deleteEvents(deps: AppDeps, cutoff: Date): Promise<number> {
  let total = 0;
  for (;;) {
    const r = await deps.pool.query(
      `DELETE FROM stream_events WHERE id IN (SELECT id FROM stream_events WHERE created_at < $1 LIMIT ${BATCH})`,
      [cutoff],
    );
    total += r.rowCount ?? 0;
    if ((r.rowCount ?? 0) < BATCH) return total;
  }
}

/** Expired copies go; each device that never read some is told, from whom (messages/expiry.ts). */
async function deleteMessages(deps: AppDeps, cutoff: Date, now: Date): Promise<number> {
  let total = 0;
  for (;;) {
    const r = await expireMessages(deps.pool, cutoff, now, BATCH);
    for (const n of r.notices) deps.notifier.publish({ kind: 'stream', userId: n.userId, seq: n.seq });
    total += r.deleted;
    if (r.picked < BATCH) return total;
  }
}

/** One sweep as of `now` (injected, so tests expire data without waiting). */
export async function sweepOnce(deps: AppDeps, now: Date): Promise<SweepResult> {
  const cutoff = new Date(now.getTime() - deps.config.retentionDays * DAY_MS);
  const messages = await deleteMessages(deps, cutoff, now);
  const events = await deleteEvents(deps, cutoff);
  const dir = photoDir(deps);
  let photos = 0;
  for (;;) {
    const r = await deps.pool.query<{ file_path: string }>(
      // Expired, or left with no device to acknowledge it (its readers' devices were removed,
      // or two acknowledged at once; migration 0071, photo_targets).
      `DELETE FROM photos WHERE id IN (SELECT p.id FROM photos p
                                         WHERE p.created_at < $1
                                            OR NOT EXISTS (SELECT 1 FROM photo_targets t WHERE t.photo_id = p.id)
                                         LIMIT ${BATCH}) RETURNING file_path`,
      [cutoff],
    );
    await removeFiles(
      dir,
      r.rows.map((x) => x.file_path),
    );
    photos += r.rows.length;
    if (r.rows.length < BATCH) break;
  }
  await sweepAuthState(deps, now); // ended sessions, old throttle rows, expired registrations
  // A bucket untouched for a day has refilled (every configured refill is faster than that).
  await deps.pool.query('DELETE FROM token_buckets WHERE updated_at < $1', [
    new Date(now.getTime() - DAY_MS),
  ]);
  for (const name of await readdir(dir)) {
    if (!name.endsWith('.part')) continue;
    const info = await stat(join(dir, name)).catch(() => null);
    if (info && Date.now() - info.mtimeMs > STALE_PART_MS)
      await unlink(join(dir, name)).catch(() => undefined);
  }
  return { messages, events, photos };
}
