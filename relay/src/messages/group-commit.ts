// Group commit for sends (relay/BENCHMARKS.md, "group commit"): sends that arrive together, from
// HTTP and WebSocket alike, are stored by ONE autocommitted statement (send_message_batch,
// migrations 0071, 0075 and 0077), so a batch of N sends pays one commit (one WAL flush) and one round
// trip to PostgreSQL instead of N of each. Each send gets the outcome the single-send function
// (send_message_copies, the one rule for storing a send with all its per-device copies, or none
// of them) would give it: a batch whose every send is stored runs set-based (one statement per
// step for the whole batch: about a third of the database's time for a batch of ten), any other
// batch send by send. A row of a batch is a SEND, not a copy: its copies never split across
// batches or outcomes.
// - Sync copies (a sender's copies for its own other devices) follow their send: per
//   conversation they are in send order; across conversations a batch may reorder them (the
//   rows run in recipient order, below), which the client's per-chat order (spec/protocol.md
//   §9.1) does not see. A send with sync copies also takes the sender's stream counter, so the
//   recipient order no longer rules out every lock cycle between processes: a deadlock aborts
//   the batch and its rows are rerun alone (src/db/deadlock.ts), as for any failed batch.
//
// - Pipelining: up to GROUP_COMMIT_BATCHES_IN_FLIGHT batches run at once, each on its own pool
//   connection, so the next batch executes while the previous one waits for its WAL flush.
// - Order: a sender has sends in at most one running batch. A batch takes the queued sends in
//   arrival order and skips every send of a sender that has one in a running batch; those wait
//   for a later batch. So one sender's sends are stored in the order they arrived, one batch
//   after another (spec/protocol.md §7: a recipient's stream is in send order per sender).
// - Wait: with a batch slot free, a batch starts at the end of the current event-loop turn
//   (everything that arrived in the same I/O callbacks joins it) once it is gathered (the
//   senders expected soon have sent, or at most GATHER_MAX_MS); with every slot taken, sends
//   collect until a batch finishes. A batch holds at most GROUP_COMMIT_MAX_ROWS rows.
// - Locks: within a batch rows run sorted by recipient (stable, so per-sender order to a
//   recipient stays), so concurrent batches take the recipients' stream counters in the same
//   order (the set-based path takes them all at once, in the same username order); the other
//   rows a send writes are its sender's (token bucket, client_id), and no two running batches
//   share a sender. So two batches of one process cannot deadlock on recipients' counters, and
//   two set-based batches not at all. A send with sync copies also takes its sender's counter,
//   in user id order beside its recipient's (send_message_copies): a batch run send by send, or
//   a batch of one, can then take two counters in the other order than a concurrent batch (X's
//   then R's, while the other holds R's and wants X's) and one of them is aborted as a deadlock
//   — rerun row by row (below), each row retried (src/db/deadlock.ts). Stream seqs stay ordered
//   per recipient: the counter row is locked from a row's statement until the batch commits, as
//   it is for one statement.
// - A refused row (dead session, no token, a known client_id, a full mailbox, no such user, a
//   block) is refused alone: the statement reports per row whether the session was live and a
//   token taken, as that row saw them, and the other reasons are looked up for that row after
//   the commit (whyNotStored), as for a single send.
// - A failing row fails only itself: any error aborts the statement (nothing of it was stored
//   or announced), and every row of the batch is then run again on its own, as an autocommitted
//   statement, each with its own outcome. Idempotency by client_id makes the rerun safe even
//   when the failure was a lost answer to a committed statement.
// - Results are handed out only after the statement has committed: nothing is acknowledged to a
//   sender before it is durable.
import { retryOnDeadlock } from '../db/deadlock.js';
import type { Pool } from '../db/pool.js';
import type { Logger } from '../logger.js';
import {
  insertMessage,
  insertMessages,
  type SendAttempt,
  type SendInput,
  type SendOutcome,
  whyNotStored,
} from './store.js';

/** Most rows in one statement: bounds the time the recipients' counters stay locked. */
export const GROUP_COMMIT_MAX_ROWS = 64;
/**
 * Batches in the database at once per process (each holds one pool connection while it runs).
 * Two: the next batch executes while the previous one waits for its WAL flush. Measured against
 * one (relay/BENCHMARKS.md, "gathered batches, two in flight"): with eight sends in flight per
 * sender 1.09–1.18× the raw INSERT ceiling against 0.74–0.77× in the same runs; with one send in
 * flight per sender no difference once batches are gathered (below). This replaces the lanes
 * (batches pinned to a hash of the sender): a sender is kept out of a second batch instead.
 */
export const GROUP_COMMIT_BATCHES_IN_FLIGHT = 2;
/** Queued sends looked at for one batch: bounds the work of skipping senders that are busy. */
const SCAN_LIMIT = 4 * GROUP_COMMIT_MAX_ROWS;
/**
 * Gathering: a batch does not start with the first send to arrive if more are expected (a
 * sender active in the last ACTIVE_WINDOW_MS that has no send queued and none in a running
 * batch): it waits until they are queued or the oldest queued send has waited GATHER_SHARE of a
 * batch's recent time in the database, at most GATHER_MAX_MS. Each batch costs a WAL flush, and
 * flushes are serial: senders that each wait for their answer come back a few hundred µs apart,
 * and without the wait the first of them started a batch alone and split them into two batches
 * (two flushes) per round (relay/BENCHMARKS.md: batches of 1 and 9, 4 and 6, ...). Waiting at
 * most half of what a batch costs is cheaper than starting another one.
 */
const GATHER_MAX_MS = 1;
const GATHER_SHARE = 0.5;
/** A sender counts as active for this long after a send (and at most twice as long). */
const ACTIVE_WINDOW_MS = 100;

interface Job {
  /** When it was submitted (performance.now()). */
  t: number;
  m: SendInput;
  resolve: (o: SendOutcome) => void;
  reject: (e: unknown) => void;
}

export interface GroupCommitStats {
  batches: number;
  rows: number;
  /** Batches rolled back and rerun row by row. */
  fallbacks: number;
}

export class GroupCommit {
  /** Sends not yet in a batch, in arrival order. */
  private queue: Job[] = [];
  /** Senders with a send in a batch that has not finished, and how many. */
  private readonly busy = new Map<string, number>();
  private running = 0;
  private scheduled = false;
  private timer: NodeJS.Timeout | undefined;
  /** Senders seen in the current and in the previous ACTIVE_WINDOW_MS, and when the current began. */
  private active = new Set<string>();
  private activeBefore = new Set<string>();
  private activeSince = 0;
  /** Moving average of a batch's time in the database, ms. */
  private batchMs = 0;
  readonly stats: GroupCommitStats = { batches: 0, rows: 0, fallbacks: 0 };
  /** Most batches that have run at once. */
  peakInFlight = 0;

  constructor(
    private readonly pool: Pool,
    private readonly logger: Logger,
    private readonly maxInFlight = GROUP_COMMIT_BATCHES_IN_FLIGHT,
  ) {}

  /** Stores `m` (in a batch with whatever else arrives now); resolves once it is committed. */
  submit(m: SendInput): Promise<SendOutcome> {
    const now = performance.now();
    if (now - this.activeSince >= ACTIVE_WINDOW_MS) {
      [this.activeBefore, this.active] = [this.active, this.activeBefore];
      this.active.clear();
      if (now - this.activeSince >= 2 * ACTIVE_WINDOW_MS) this.activeBefore.clear();
      this.activeSince = now;
    }
    this.active.add(m.senderId);
    return new Promise<SendOutcome>((resolve, reject) => {
      this.queue.push({ m, resolve, reject, t: now });
      this.schedule();
    });
  }

  /** Looks at the queue at the end of this event-loop turn, if a batch may start. */
  private schedule(): void {
    if (this.scheduled || this.running >= this.maxInFlight) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      this.startBatches();
    });
  }

  /** Starts batches while a slot is free and the queue holds a send whose sender is not busy. */
  private startBatches(): void {
    while (this.running < this.maxInFlight && this.queue.length > 0) {
      if (!this.gathered()) return;
      const jobs = this.take();
      if (jobs.length === 0) return;
      this.running++;
      this.peakInFlight = Math.max(this.peakInFlight, this.running);
      for (const job of jobs) this.busy.set(job.m.senderId, (this.busy.get(job.m.senderId) ?? 0) + 1);
      this.stats.batches++;
      this.stats.rows += jobs.length;
      const t0 = performance.now();
      const done = jobs.length === 1 ? this.alone(jobs[0] as Job) : this.batch(jobs);
      void done.finally(() => {
        const ms = performance.now() - t0;
        this.batchMs = this.batchMs === 0 ? ms : 0.8 * this.batchMs + 0.2 * ms;
        for (const job of jobs) {
          const n = (this.busy.get(job.m.senderId) ?? 1) - 1;
          if (n === 0) this.busy.delete(job.m.senderId);
          else this.busy.set(job.m.senderId, n);
        }
        this.running--;
        this.startBatches();
      });
    }
  }

  /**
   * Whether the next batch should start now: when every recently active sender that is not in a
   * running batch has a send queued, or when the oldest queued send has waited GATHER_SHARE of a
   * batch's time in the database (at most GATHER_MAX_MS). Otherwise a timer looks again then.
   */
  private gathered(): boolean {
    const expected = Math.max(this.activeBefore.size, this.active.size) - this.busy.size;
    const wait = Math.min(GATHER_MAX_MS, GATHER_SHARE * this.batchMs);
    const waited = performance.now() - (this.queue[0] as Job).t;
    if (this.queue.length >= expected || waited >= wait) {
      clearTimeout(this.timer);
      this.timer = undefined;
      return true;
    }
    this.timer ??= setTimeout(() => {
      this.timer = undefined;
      this.startBatches();
    }, wait - waited);
    return false;
  }

  /**
   * The next batch: queued sends in arrival order, skipping every send of a sender that has one
   * in a running batch (so a sender's sends are never in two batches at once).
   */
  private take(): Job[] {
    const jobs: Job[] = [];
    const skipped: Job[] = [];
    let i = 0;
    for (; i < this.queue.length && i < SCAN_LIMIT && jobs.length < GROUP_COMMIT_MAX_ROWS; i++) {
      const job = this.queue[i] as Job;
      if (this.busy.has(job.m.senderId)) skipped.push(job);
      else jobs.push(job);
    }
    if (jobs.length > 0) this.queue = skipped.concat(this.queue.slice(i));
    return jobs;
  }

  /** One row: a single autocommitted statement, as without batching. */
  private async alone(job: Job): Promise<void> {
    try {
      job.resolve(await retryOnDeadlock(() => insertMessage(this.pool, job.m)));
    } catch (err) {
      job.reject(err);
    }
  }

  private async batch(jobs: Job[]): Promise<void> {
    const order = jobs
      .map((job, i) => ({ job, i }))
      .sort((a, b) => (a.job.m.to < b.job.m.to ? -1 : a.job.m.to > b.job.m.to ? 1 : a.i - b.i))
      .map((x) => x.job);
    let attempts: SendAttempt[];
    try {
      attempts = await insertMessages(
        this.pool,
        order.map((job) => job.m),
      );
    } catch (err) {
      // The statement failed, so normally nothing of it was stored (one statement, one
      // transaction); if only its answer was lost, the rerun finds each send by its client_id.
      this.stats.fallbacks++;
      this.logger.warn(
        { err: { message: (err as Error).message }, rows: jobs.length },
        'send batch rerun row by row',
      );
      for (const job of jobs) await this.alone(job);
      return;
    }
    // Committed: the stored rows are answered at once; a row that stored nothing learns why on
    // its own (the rare path), so its failure, even an error, is its own.
    const unstored: [Job, Extract<SendAttempt, { kind: 'not_stored' }>][] = [];
    order.forEach((job, k) => {
      const a = attempts[k] as SendAttempt;
      if (a.kind === 'stored') job.resolve(a);
      else unstored.push([job, a]);
    });
    for (const [job, seen] of unstored) {
      try {
        job.resolve(await whyNotStored(this.pool, job.m, seen));
      } catch (err) {
        job.reject(err);
      }
    }
  }
}
