// The fan-out seam between relay processes (relay/SCALING.md: several relay processes). A process
// that stores something publishes a small event; every process (itself included) hears it
// and pushes to the WebSocket clients it holds. An event is a hint, never the record: the
// receiving process reads the rows itself unless the event carries the very next item of a
// socket's stream (a small message copy travels with its event, WIRE_ITEM_MAX_BYTES), so a lost
// or reordered event costs latency, never data (clients catch up from their cursor). Any broker
// can stand behind this interface; PgNotifier (LISTEN/NOTIFY) is the default.

import type { MessageItem, StreamItem } from '../messages/stream.js';

/**
 * What a process can announce. `userId` is the user the event is FOR (whose sockets act).
 * - `stream`: a new row (message, key change, delivery receipt) at `seq` in that user's stream.
 *   `item` (optional) is the committed row itself, so a socket can skip reading back what was
 *   just written: always for this process's own subscribers; on the wire only for a message copy
 *   whose event fits WIRE_ITEM_MAX_BYTES (relay/SCALING.md: otherwise every other process read
 *   each copy back, one query per socket). `deviceId` (with `item`): the row is a message copy
 *   for that device of the user, so only that device's sockets act on it; an event without it
 *   names no device, and every socket of the user re-reads its own rows.
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
  if (o.k === 's' && Number.isSafeInteger(o.q)) {
    const seq = o.q as number;
    const item = o.m === undefined ? null : decodeMessageItem(o.m, seq);
    // A copy whose item does not parse is still announced: its sockets read it back.
    return item && Number.isSafeInteger(o.d) && (o.d as number) >= 1
      ? { kind: 'stream', userId, seq, deviceId: o.d as number, item }
      : { kind: 'stream', userId, seq };
  }
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

/**
 * The largest wire form of a stream event carrying its message copy, bytes: a NOTIFY payload is
 * capped at 8000 bytes, and two such events fit in one. That leaves room for a copy of about
 * 2,700 bytes: a short text's ratchet message (spec/protocol.md §8, §9.1: Padmé-padded frames)
 * and an initial message with its ML-KEM-768 ciphertext (§6.1, 1,088 bytes of it) fit; a larger
 * copy travels as an id and is read back. The wire form is ASCII only (uuids, usernames of
 * USERNAME_PATTERN, base64, ISO times, numbers), so its length is the same in bytes under any
 * server encoding PostgreSQL counts the payload in.
 */
export const WIRE_ITEM_MAX_BYTES = 3800;
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

/** The message item of a wire stream event at `seq`, or null when it is not one. */
function decodeMessageItem(raw: unknown, seq: number): MessageItem | null {
  if (typeof raw !== 'object' || raw === null) return null;
  const m = raw as Record<string, unknown>;
  const { i: id, f: from, e: fromDevice, b: body, t: createdAt } = m;
  if (!Number.isSafeInteger(id) || (id as number) < 1) return null;
  if (typeof from !== 'string' || from.length === 0 || from.length > 64) return null;
  if (!Number.isSafeInteger(fromDevice) || (fromDevice as number) < 0) return null;
  if (typeof body !== 'string' || body.length > WIRE_ITEM_MAX_BYTES || !BASE64.test(body)) return null;
  if (typeof createdAt !== 'string' || createdAt.length > 32 || Number.isNaN(Date.parse(createdAt)))
    return null;
  return {
    type: 'message',
    seq,
    id: id as number,
    from,
    from_device: fromDevice as number,
    body,
    created_at: createdAt,
  };
}

/**
 * The compact wire form (NOTIFY payloads are capped at 8000 bytes, so keys are one letter). A
 * stream event with a message item and its device carries them (PgNotifier decides which events
 * may: the others it queues without their item).
 */
export function encodeEvent(e: PublishedEvent): Record<string, unknown> {
  switch (e.kind) {
    case 'stream': {
      const it = e.item;
      if (it?.type !== 'message' || e.deviceId === undefined) return { u: e.userId, k: 's', q: e.seq };
      return {
        u: e.userId,
        k: 's',
        q: e.seq,
        d: e.deviceId,
        m: { i: it.id, f: it.from, e: it.from_device, b: it.body, t: it.created_at },
      };
    }
    case 'prekeys_low':
      return e.deviceId === undefined
        ? { u: e.userId, k: 'p', n: e.remaining, m: e.remainingPq }
        : { u: e.userId, k: 'p', n: e.remaining, m: e.remainingPq, d: e.deviceId };
    case 'revoked':
      return e.sessionId === undefined ? { u: e.userId, k: 'r' } : { u: e.userId, k: 'r', s: e.sessionId };
  }
}
