// PostgreSQL LISTEN/NOTIFY behind the Notifier interface (src/notify/notifier.ts).
//
// Two rules shape it (relay/BENCHMARKS.md, relay/SCALING.md):
// - NOTIFY is sent OUTSIDE the transaction that stored the row (measured there: a NOTIFY
//   inside the insert transaction costs 43–63 % of insert throughput, because commits then
//   serialise on the notification queue lock). publish() is called after the commit.
// - Events are coalesced: while one NOTIFY is in flight, later events queue and go out
//   together as one JSON array, so under load the relay sends far fewer NOTIFYs than
//   messages, and at rest an event leaves at once. Stream events for one user that wait in
//   the same queue become one (the highest seq): a listener reads everything up to it anyway,
//   so a batch of sends to one recipient costs one event, not one per message.
// - Except a message copy whose event fits WIRE_ITEM_MAX_BYTES with its item: it goes alone,
//   item and all, and a listening process pushes it without reading it back when it is the next
//   item of a socket's stream (src/ws/hub.ts; relay/BENCHMARKS.md "Message copies on the wire").
//   Only while the queue holds less than MAX_QUEUED_ITEM_BYTES of them: when NOTIFYs fall behind
//   the sends, later copies are coalesced as ids again, so the queue (memory, and the wait before
//   other processes hear of a copy) does not grow with every message.

import pg from 'pg';
import type { Logger } from 'pino';
import {
  decodeEvent,
  type EventHandler,
  encodeEvent,
  type Notifier,
  type PublishedEvent,
  WIRE_ITEM_MAX_BYTES,
} from './notifier.js';

/** NOTIFY's payload limit is 8000 bytes; stay under it with room for the array brackets. */
const MAX_PAYLOAD_BYTES = 7900;
/** Bytes of whole copies the queue may hold (about eight NOTIFYs' worth); past it, ids. */
const MAX_QUEUED_ITEM_BYTES = 8 * MAX_PAYLOAD_BYTES;
const RECONNECT_MIN_MS = 250;
const RECONNECT_MAX_MS = 5000;

export interface PgNotifierOptions {
  /** Publishes through the shared pool (one short statement per batch). */
  pool: pg.Pool;
  /** Connection settings for the dedicated LISTEN connection (a pooled one would be recycled). */
  listenConfig: pg.ClientConfig;
  channel?: string;
  logger: Logger;
}

export class PgNotifier implements Notifier {
  private readonly pool: pg.Pool;
  private readonly listenConfig: pg.ClientConfig;
  private readonly channel: string;
  private readonly logger: Logger;
  private readonly handlers = new Set<EventHandler>();
  /** Events to send: objects, or the encoded wire form of a message copy that travels whole. */
  private queue: (PublishedEvent | string)[] = [];
  /** Bytes of the whole copies (strings) in the queue. */
  private queuedItemBytes = 0;
  /** The queued stream event of each user, to raise its seq instead of queueing another. */
  private queuedStream = new Map<string, { kind: 'stream'; userId: string; seq: number }>();
  private inFlight: Promise<void> | null = null;
  private listener: pg.Client | null = null;
  private closed = false;
  private reconnectDelay = RECONNECT_MIN_MS;
  private reconnectTimer: NodeJS.Timeout | null = null;

  private constructor(opts: PgNotifierOptions) {
    this.pool = opts.pool;
    this.listenConfig = opts.listenConfig;
    this.channel = opts.channel ?? 'relay_events';
    if (!/^[a-z_][a-z0-9_]{0,62}$/.test(this.channel))
      throw new Error('notifier channel must be a plain identifier');
    this.logger = opts.logger;
  }

  /** Connects the LISTEN connection; resolves once this process hears events. */
  static async start(opts: PgNotifierOptions): Promise<PgNotifier> {
    const n = new PgNotifier(opts);
    await n.listen();
    return n;
  }

  publish(event: PublishedEvent): void {
    if (this.closed) return;
    // The row itself goes to this process's subscribers at once; other processes (and this one
    // again, whose sockets are past it by then) hear the NOTIFY.
    if (event.kind === 'stream' && event.item) this.dispatch(event);
    // The wire form carries the item when encodeEvent gives it one (a message copy, `m`).
    const wire = event.kind === 'stream' && event.item ? encodeEvent(event) : undefined;
    const whole = wire && 'm' in wire ? JSON.stringify(wire) : '';
    const wholeBytes = whole ? Buffer.byteLength(whole) : 0;
    if (
      whole &&
      wholeBytes <= WIRE_ITEM_MAX_BYTES &&
      this.queuedItemBytes + wholeBytes <= MAX_QUEUED_ITEM_BYTES
    ) {
      this.queue.push(whole);
      this.queuedItemBytes += wholeBytes;
    } else if (event.kind === 'stream') {
      const queued = this.queuedStream.get(event.userId);
      if (queued) {
        queued.seq = Math.max(queued.seq, event.seq);
      } else {
        const e = { kind: 'stream' as const, userId: event.userId, seq: event.seq };
        this.queuedStream.set(event.userId, e);
        this.queue.push(e);
      }
    } else this.queue.push(event);
    if (!this.inFlight) this.inFlight = this.drain();
  }

  subscribe(handler: EventHandler): () => void {
    this.handlers.add(handler);
    return () => this.handlers.delete(handler);
  }

  async flush(): Promise<void> {
    while (this.inFlight) await this.inFlight;
  }

  async close(): Promise<void> {
    await this.flush();
    this.closed = true;
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    const l = this.listener;
    this.listener = null;
    this.handlers.clear();
    if (l) await l.end().catch(() => undefined);
  }

  private async drain(): Promise<void> {
    try {
      // Wait for the rest of this event-loop turn: the sends that completed in the same batch of
      // I/O callbacks then leave in one NOTIFY instead of the first going alone. A NOTIFY is a
      // write to PostgreSQL, and in a CPU profile of the bench the relay's writes to PostgreSQL
      // were its largest single cost. Local sockets do not wait: publish() dispatched already.
      await new Promise<void>((resolve) => setImmediate(resolve));
      while (this.queue.length > 0) {
        const batch = this.takeBatch();
        try {
          await this.pool.query('SELECT pg_notify($1, $2)', [this.channel, `[${batch.join(',')}]`]);
        } catch (err) {
          // The rows are stored; recipients still get them on their next catch-up or resync.
          this.logger.warn(
            { err: (err as Error).message, events: batch.length },
            'notify failed; events dropped',
          );
        }
      }
    } finally {
      this.inFlight = null;
    }
  }

  private takeBatch(): string[] {
    const batch: string[] = [];
    let bytes = 2;
    let taken = 0;
    while (taken < this.queue.length) {
      const entry = this.queue[taken] as PublishedEvent | string;
      const next = typeof entry === 'string' ? entry : JSON.stringify(encodeEvent(entry));
      const size = Buffer.byteLength(next) + 1;
      if (batch.length > 0 && bytes + size > MAX_PAYLOAD_BYTES) break;
      batch.push(next);
      bytes += size;
      if (typeof entry === 'string') this.queuedItemBytes -= size - 1;
      else if (entry.kind === 'stream') this.queuedStream.delete(entry.userId);
      taken++;
    }
    this.queue.splice(0, taken);
    return batch;
  }

  private async listen(): Promise<void> {
    const client = new pg.Client(this.listenConfig);
    client.on('notification', (msg) => {
      if (msg.channel === this.channel && msg.payload) this.dispatchPayload(msg.payload);
    });
    client.on('error', (err) => {
      this.logger.warn({ err: err.message }, 'notifier connection error');
      this.scheduleReconnect(client);
    });
    client.on('end', () => this.scheduleReconnect(client));
    await client.connect();
    await client.query(`LISTEN ${this.channel}`);
    this.listener = client;
    this.reconnectDelay = RECONNECT_MIN_MS;
  }

  private scheduleReconnect(dead: pg.Client): void {
    if (this.closed || this.listener !== dead || this.reconnectTimer) return;
    this.listener = null;
    dead.end().catch(() => undefined);
    const delay = this.reconnectDelay;
    this.reconnectDelay = Math.min(RECONNECT_MAX_MS, this.reconnectDelay * 2);
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = null;
      this.listen()
        .then(() => this.dispatch({ kind: 'resync' }))
        .catch((err: Error) => {
          this.logger.warn({ err: err.message }, 'notifier reconnect failed');
          const stub = new pg.Client(this.listenConfig);
          this.listener = stub;
          this.scheduleReconnect(stub);
        });
    }, delay);
  }

  private dispatchPayload(payload: string): void {
    let parsed: unknown;
    try {
      parsed = JSON.parse(payload);
    } catch {
      return;
    }
    for (const raw of Array.isArray(parsed) ? parsed : [parsed]) {
      const event = decodeEvent(raw);
      if (event) this.dispatch(event);
    }
  }

  private dispatch(event: Parameters<EventHandler>[0]): void {
    for (const h of this.handlers) {
      try {
        h(event);
      } catch (err) {
        this.logger.error({ err: (err as Error).message, kind: event.kind }, 'event handler failed');
      }
    }
  }
}
