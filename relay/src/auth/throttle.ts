// Failed-attempt throttling for every second-factor check (login, registration confirmation,
// re-authentication, TOTP re-enrolment, recovery-code regeneration), kept in PostgreSQL (table
// login_throttle) so it holds across processes and restarts. Keyed so that failures from one
// source cannot lock the owner out from another (spec/openapi.yaml POST /login):
//
//   user_ip (account, client IP), limit M = LOGIN_USER_MAX_FAILURES (10):
//     n ≥ 3 and n < M → locked for 2^(n − 3) s (max 60 s); n ≥ M → LOGIN_LOCK_SECONDS · 2^(n − M)
//     (max 24 h): 15 min, 30 min, 1 h, …
//   user (the account, every IP): no delays; at ACCOUNT_MAX_FAILURES (100) consecutive failures
//     it locks like a pair at its limit — NIST SP 800-63B §5.2.2's ceiling on failed attempts,
//     the bound on total online guesses, reached only by an attacker with many addresses;
//   ip (every account), limit LOGIN_IP_MAX_FAILURES (30): like a pair, delays from M/3, but a
//     lock of at most an hour (IP_MAX_LOCK_SECONDS): one address is often many people (a
//     carrier's or an office's NAT), whom one of them must not keep out for a day; the per-pair
//     and per-account locks bound the guesses on any one account.
// Account and pair failures count until a success or a quiet day (auth/cleanup.ts); IP failures
// are forgotten after a quiet hour. Quiet counts from the last failure or the end of the lock,
// whichever is later: a lock is itself a stretch without failures (locked attempts are not
// evaluated), and counted as quiet it would hand a fresh budget back as each long lock ended.
// The rows are taken FOR UPDATE for the whole attempt, so parallel guesses are serialised and
// every one is counted before the next is judged.
import type { Config } from '../config.js';
import type { PoolClient } from '../db/pool.js';
import { rateLimited } from '../limits/rate-limited.js';

export type Scope = 'user' | 'user_ip' | 'ip';

/** NIST SP 800-63B §5.2.2: at most 100 consecutive failed attempts on one account. */
export const ACCOUNT_MAX_FAILURES = 100;

const SCOPE_ORDER: Record<Scope, number> = { user: 0, user_ip: 1, ip: 2 };

/** The throttle keys of an attempt on `userId` (null: an unknown account) from `ip`. */
export function throttleKeys(userId: string | null, ip: string): { scope: Scope; key: string }[] {
  return userId
    ? [
        { scope: 'user', key: userId },
        { scope: 'user_ip', key: `${userId}|${ip}` },
        { scope: 'ip', key: ip },
      ]
    : [{ scope: 'ip', key: ip }];
}

interface Row {
  scope: Scope;
  key: string;
  failures: number;
  locked_until: Date | null;
  last_failure_at: Date | null;
}

const IP_FORGET_MS = 3600_000;
const MAX_LOCK_SECONDS = 86_400;
const IP_MAX_LOCK_SECONDS = 3600;
const MAX_DELAY_SECONDS = 60;

/** Locks the scope rows (in the fixed order user → user_ip → ip, so two attempts never deadlock). */
export async function lockThrottleRows(
  client: PoolClient,
  keys: { scope: Scope; key: string }[],
): Promise<Row[]> {
  const ordered = [...keys].sort((a, b) => SCOPE_ORDER[a.scope] - SCOPE_ORDER[b.scope]);
  const rows: Row[] = [];
  for (const { scope, key } of ordered) {
    const { rows: r } = await client.query<Row>(
      `INSERT INTO login_throttle (scope, key) VALUES ($1, $2)
       ON CONFLICT (scope, key) DO UPDATE SET key = EXCLUDED.key
       RETURNING scope, key, failures, locked_until, last_failure_at`,
      [scope, key],
    );
    if (r[0]) rows.push(r[0]);
  }
  return rows;
}

/** Seconds until every row is unlocked (0 = not locked). */
export function lockedForSeconds(rows: Row[], nowMs: number): number {
  let until = 0;
  for (const r of rows)
    if (r.locked_until && r.locked_until.getTime() > until) until = r.locked_until.getTime();
  return until > nowMs ? Math.ceil((until - nowMs) / 1000) : 0;
}

function lockSeconds(scope: Scope, failures: number, cfg: Config['login']): number {
  const max =
    scope === 'user' ? ACCOUNT_MAX_FAILURES : scope === 'user_ip' ? cfg.userMaxFailures : cfg.ipMaxFailures;
  if (failures >= max)
    return Math.min(
      scope === 'ip' ? IP_MAX_LOCK_SECONDS : MAX_LOCK_SECONDS,
      cfg.lockSeconds * 2 ** Math.min(failures - max, 10),
    );
  if (scope === 'user') return 0;
  const delayFrom = scope === 'user_ip' ? 3 : Math.max(3, Math.floor(max / 3));
  if (failures >= delayFrom) return Math.min(MAX_DELAY_SECONDS, 2 ** (failures - delayFrom));
  return 0;
}

/** When the row last had a failure or a lock in force, whichever is later (ms). */
function quietSince(r: Row): number {
  return Math.max(r.last_failure_at?.getTime() ?? 0, r.locked_until?.getTime() ?? 0);
}

export async function recordFailure(
  client: PoolClient,
  rows: Row[],
  nowMs: number,
  cfg: Config['login'],
): Promise<void> {
  for (const r of rows) {
    const stale = r.scope === 'ip' && r.last_failure_at && nowMs - quietSince(r) > IP_FORGET_MS;
    const failures = (stale ? 0 : r.failures) + 1;
    const lock = lockSeconds(r.scope, failures, cfg);
    await client.query(
      `UPDATE login_throttle SET failures = $3, last_failure_at = $4, locked_until = $5, locks = locks + $6
        WHERE scope = $1 AND key = $2`,
      [r.scope, r.key, failures, new Date(nowMs), lock ? new Date(nowMs + lock * 1000) : null, lock ? 1 : 0],
    );
  }
}

/** A success clears the account's and the pair's counts (not the IP's: one good account must not launder an IP). */
export async function recordSuccess(client: PoolClient, rows: Row[]): Promise<void> {
  for (const r of rows)
    if (r.scope !== 'ip')
      await client.query(
        `UPDATE login_throttle SET failures = 0, locked_until = NULL WHERE scope = $1 AND key = $2`,
        [r.scope, r.key],
      );
}

/** 429 `locked` with the wait in the body and in Retry-After. */
export const locked = (seconds: number) =>
  rateLimited(seconds, `too many failed attempts; try again in ${seconds} s`, 'locked');
