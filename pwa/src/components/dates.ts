// Dates shown to the user, localized by Intl (no date strings in the dictionaries).

/** Local calendar day of a timestamp, as a sortable key (e.g. "2026-11-25"). */
export function dayKey(ms: number): string {
  const d = new Date(ms);
  return `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, '0')}-${String(d.getDate()).padStart(2, '0')}`;
}

// Building an Intl formatter costs far more than using one; a chat renders many timestamps.
const formatters = new Map<string, Intl.DateTimeFormat>();
function dateFormat(locale: string, options: Intl.DateTimeFormatOptions): Intl.DateTimeFormat {
  const key = `${locale}|${JSON.stringify(options)}`;
  let f = formatters.get(key);
  if (!f) {
    f = new Intl.DateTimeFormat(locale, options);
    formatters.set(key, f);
  }
  return f;
}

function startOfDay(ms: number): number {
  const d = new Date(ms);
  d.setHours(0, 0, 0, 0);
  return d.getTime();
}

function capitalize(s: string, locale: string): string {
  return s.charAt(0).toLocaleUpperCase(locale) + s.slice(1);
}

/** "Today" / "Yesterday" / "25 November 2026" (or the Russian forms) for a day separator. */
export function dayLabel(ms: number, locale: string, now: number = Date.now()): string {
  // Whole days between the two local midnights; Math.round absorbs DST's 23/25-hour days.
  const diff = Math.round((startOfDay(ms) - startOfDay(now)) / 86_400_000);
  if (diff === 0 || diff === -1) {
    return capitalize(new Intl.RelativeTimeFormat(locale, { numeric: 'auto' }).format(diff, 'day'), locale);
  }
  const sameYear = new Date(ms).getFullYear() === new Date(now).getFullYear();
  return dateFormat(
    locale,
    sameYear ? { day: 'numeric', month: 'long' } : { day: 'numeric', month: 'long', year: 'numeric' },
  ).format(ms);
}

/** A moment with its date and time ("5 December 2026 at 22:40"), e.g. when history was archived. */
export function archivedDate(ms: number, locale: string): string {
  return dateFormat(locale, { dateStyle: 'long', timeStyle: 'short' }).format(ms);
}

/** Date and time to the minute ("7 Dec 2026, 07:19"): when a device was linked, a session used. */
export function dateTimeLabel(ms: number, locale: string): string {
  return dateFormat(locale, { dateStyle: 'medium', timeStyle: 'short' }).format(ms);
}

/** Clock time of a message ("14:05" / "2:05 PM"). */
export function timeLabel(ms: number, locale: string): string {
  return dateFormat(locale, { hour: 'numeric', minute: '2-digit' }).format(ms);
}

/** Chat-list time: the clock time today, the short date otherwise. */
export function listTimeLabel(ms: number, locale: string, now: number = Date.now()): string {
  if (dayKey(ms) === dayKey(now)) return timeLabel(ms, locale);
  return dateFormat(locale, { day: 'numeric', month: 'short' }).format(ms);
}

export type Row<M> = { kind: 'day'; key: string; at: number } | { kind: 'message'; key: string; message: M };

/** Interleaves a day-separator row before the first message of each local day. */
export function withDaySeparators<M extends { id: string; at: number }>(messages: readonly M[]): Row<M>[] {
  const rows: Row<M>[] = [];
  let last = '';
  for (const m of messages) {
    const k = dayKey(m.at);
    if (k !== last) {
      rows.push({ kind: 'day', key: `day-${k}`, at: m.at });
      last = k;
    }
    rows.push({ kind: 'message', key: m.id, message: m });
  }
  return rows;
}
