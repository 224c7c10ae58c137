// The notices the user must read (AppNotice), oldest first: the first is shown on every
// signed-in screen until dismissed, then the next. Stored, so a reload loses none; a second
// notice no longer overwrites one not yet read (a start over's "compare safety numbers again"
// lost to a later "some of your own messages are missing here").
import type { AppNotice } from './types.ts';

const NOTICES: readonly AppNotice[] = ['protocol_reset', 'archive_erased', 'sync_expired'];
const isNotice = (v: unknown): v is AppNotice => NOTICES.includes(v as AppNotice);

/** The stored queue; a single notice as stored before there was a queue is a queue of one. */
export function storedNotices(value: unknown): AppNotice[] {
  if (Array.isArray(value)) return value.filter(isNotice);
  return isNotice(value) ? [value] : [];
}

/** The queue with `n` at its end, unless it already waits there. */
export function withNotice(queue: readonly AppNotice[], n: AppNotice): AppNotice[] {
  return queue.includes(n) ? [...queue] : [...queue, n];
}
