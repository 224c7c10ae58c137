// The default of HTTP_MAX_CONNECTIONS (README "Configuration"): how many TCP connections the
// relay's HTTP server holds at once (WebSockets included) when the variable is unset. Every
// connection costs a file descriptor; if clients could take them all, the process could no
// longer open PostgreSQL connections or photo files and would fail for everyone. So the cap is
// derived from the process's own descriptor limit, read from /proc/self/limits (proc(5)) after
// Node has started: Node raises its soft RLIMIT_NOFILE to the hard limit at startup, so the
// soft value read here is the one the process actually runs with.
import { readFileSync } from 'node:fs';

/** Where /proc/self/limits cannot be read (macOS, Windows: development), a conservative fixed cap. */
export const FALLBACK_MAX_CONNECTIONS = 10_000;

/**
 * An "unlimited" or huge descriptor limit (container hard limits of 2^20 are common) does not
 * make the relay accept without bound: a proxy in front of it, from one address, can open at
 * most about 64 Ki connections to one relay address and port anyway (one per source port).
 */
export const MAX_CONNECTIONS_CAP = 60_000;

/**
 * The soft "Max open files" limit in /proc/self/limits text (columns: name, soft limit, hard
 * limit, units); Infinity for "unlimited", undefined when the line is missing or unreadable.
 */
export function softOpenFileLimit(limits: string): number | undefined {
  const soft = /^Max open files\s+(\S+)/m.exec(limits)?.[1];
  if (soft === undefined) return undefined;
  if (soft === 'unlimited') return Number.POSITIVE_INFINITY;
  const n = Number(soft);
  return Number.isSafeInteger(n) && n > 0 ? n : undefined;
}

/**
 * Connections allowed for a given /proc/self/limits text (undefined: the file could not be read).
 * A quarter of the descriptors is kept back rather than a fixed number: it scales down to the
 * common soft limit of 1024 (a fixed 1024 would leave nothing), and at 20,000 it keeps 5,000 for
 * what is not a client socket — the PostgreSQL pool and its LISTEN client, stdio, libuv's own
 * descriptors, and a photo file per upload or download in progress (each of those is also one of
 * the connections, so the reserve covers one photo transfer for every three connections).
 */
export function defaultMaxConnections(limits: string | undefined): number {
  const soft = limits === undefined ? undefined : softOpenFileLimit(limits);
  if (soft === undefined) return FALLBACK_MAX_CONNECTIONS;
  if (soft === Number.POSITIVE_INFINITY) return MAX_CONNECTIONS_CAP;
  return Math.max(1, Math.min(MAX_CONNECTIONS_CAP, soft - Math.ceil(soft / 4)));
}

/** The default for this process: /proc/self/limits read now, the fixed fallback where it cannot be. */
export function processMaxConnections(): number {
  let limits: string | undefined;
  try {
    limits = readFileSync('/proc/self/limits', 'utf8');
  } catch {
    limits = undefined;
  }
  return defaultMaxConnections(limits);
}
