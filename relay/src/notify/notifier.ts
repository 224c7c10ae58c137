// The fan-out seam between relay processes (relay/SCALING.md: several relay processes). A process
// that stores something publishes a small event; every process (itself included) hears it
// and pushes to the WebSocket clients it holds. Events carry ids only, never content: the
// receiving process reads the row itself, so a lost event costs latency, never data
// (clients catch up from their cursor). Any broker can stand behind this interface;
// PgNotifier (LISTEN/NOTIFY) is the default.

import type { StreamItem } from '../messages/stream.js';

/**
 * What a process can announce. `userId` is the user the event is FOR (whose sockets act).
 * - `stream`: a new row (message, key change, delivery receipt) at `seq` in that user's stream.
 *   `item` (optional) is the committed row itself: handed to this process's own subscribers only,
 *   never put on the wire, so a local socket can skip reading back what was just written.
 *   `deviceId` (optional, local only like `item`): the row is a message copy for that device of
 *   the user, so only that device's sockets act on it (the others re-read their own rows when
 *   the wire event, which names no device, comes back).
 * - `prekeys_low`: one of the one-time prekey stocks (X25519 `remaining`, ML-KEM-768
 *   `remainingPq`) of that user's device `deviceId` fell below the threshold (the stocks are per
 *   device, spec/protocol.md §16: only that device's sockets act).
 * - `revoked`: sessions of that user ended (one `sessionId`, or all when it is absent).
 * - `resync`: local only, never published: the broker connection was re-established and
 *   events may have been missed, so every socket re-reads its stream.
 */
export type RelayEvent =
  | { kind: 'stream'; userId: string; seq: number; item?: StreamItem; deviceId?: number }
  | { kind: 'prekeys_low'; userId: string; deviceId?: number; remaining: number; remainingPq: number }
  | { kind: 'revoked'; userId: string; sessionId?: string }
  | { kind: 'resync' };

export type PublishedEvent = Exclude<RelayEvent, { kind: 'resync' }>;

export type EventHandler = (event: RelayEvent) => void;

export interface Notifier {
  /** Announces `event` to every process. Never throws: a failure is logged and the event dropped. */
  publish(event: PublishedEvent): void;
  /** Calls `handler` for every event heard; returns the unsubscribe function. */
  subscribe(handler: EventHandler): () => void;
  /** Resolves once every event published so far has been handed to the broker. */
  flush(): Promise<void>;
  close(): Promise<void>;
}

/** A parsed event or null: payloads come from the database channel, so they are validated. */
export function decodeEvent(raw: unknown): PublishedEvent | null {
  if (typeof raw !== 'object' || raw === null) return null;
  const o = raw as Record<string, unknown>;
  const userId = o.u;
  if (typeof userId !== 'string' || userId.length === 0 || userId.length > 64) return null;
  if (o.k === 's' && Number.isSafeInteger(o.q)) return { kind: 'stream', userId, seq: o.q as number };
  if (o.k === 'p' && Number.isSafeInteger(o.n) && Number.isSafeInteger(o.m)) {
    const low = {
      kind: 'prekeys_low',
      userId,
      remaining: o.n as number,
      remainingPq: o.m as number,
    } as const;
    if (o.d === undefined) return low;
    return Number.isSafeInteger(o.d) ? { ...low, deviceId: o.d as number } : null;
  }
  if (o.k === 'r') {
    if (o.s === undefined) return { kind: 'revoked', userId };
    if (typeof o.s === 'string' && o.s.length <= 64) return { kind: 'revoked', userId, sessionId: o.s };
  }
  return null;
}

/** The compact wire form (NOTIFY payloads are capped at 8000 bytes, so keys are one letter). */
export function encodeEvent(e: PublishedEvent): Record<string, unknown> {
  switch (e.kind) {
    case 'stream':
      return { u: e.userId, k: 's', q: e.seq };
    case 'prekeys_low':
      return e.deviceId === undefined
        ? { u: e.userId, k: 'p', n: e.remaining, m: e.remainingPq }
        : { u: e.userId, k: 'p', n: e.remaining, m: e.remainingPq, d: e.deviceId };
    case 'revoked':
      return e.sessionId === undefined ? { u: e.userId, k: 'r' } : { u: e.userId, k: 'r', s: e.sessionId };
  }
}
