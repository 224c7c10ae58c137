// Group commit for sends (relay/BENCHMARKS.md, "group commit"): sends that arrive together, from
// HTTP and WebSocket alike, are stored by ONE autocommitted statement (send_message_batch,
// migration 0071), so a batch of N sends pays one commit (one WAL flush) and one round trip
// to PostgreSQL instead of N of each. Inside it each send runs the single-send function
// (send_message_copies, the one rule for storing a send with all its per-device copies, or none
// of them) and gets its own outcome. A row of a batch is a SEND, not a copy: its copies never
// split across batches or outcomes.
// - Sync copies (a sender's copies for its own other devices) follow their send: per
//   conversation they are in send order; across conversations a batch may reorder them (the
//   rows run in recipient order, below), which the client's per-chat order (spec/protocol.md
//   §9.1) does not see. A send with sync copies also takes the sender's stream counter, so the
//   recipient order no longer rules out every lock cycle between processes: a deadlock aborts
//   the batch and its rows are rerun alone (src/db/deadlock.ts), as for any failed batch.
//
// - Lanes: a sender always lands in the same lane (hash of its id) and a lane runs one batch at
//   a time, in arrival order, so one sender's messages keep their order through batching
//   (spec/protocol.md §7: a recipient's stream is in send order per sender).
// - Wait: an idle lane starts a batch at the end of the current event-loop turn (everything that
//   arrived in the same I/O callbacks joins it); a busy lane collects what arrives while its
//   batch commits. A send therefore waits at most one batch, and a batch holds at most
//   GROUP_COMMIT_MAX_ROWS rows.
// - Locks: within a batch rows run sorted by recipient (stable, so per-sender order to a
//   recipient stays), so every lane takes the recipients' stream counters in the same order and
//   two lanes cannot deadlock on them. Stream seqs stay ordered per recipient: the counter row
//   is locked from a row's statement until the batch commits, as it is for one statement.
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
 * Batches in flight per process (each holds one pool connection while it runs). One: every
 * send of the process joins the batch being collected while the current one commits, so batches
 * grow with the load and each round trip, commit and NOTIFY serves more sends. Measured against
 * four lanes (relay/BENCHMARKS.md, "one statement per batch"): with ten senders each waiting
 * for its answer, relay CPU per delivered message 0.15–0.22 ms against 0.20–0.28 ms, writes to
 * PostgreSQL being the largest cost in the profile. The price: a slow batch delays every send
 * of the process, not a quarter of them. More lanes let one process keep several batches in
 * the database at once.
 */
export const GROUP_COMMIT_LANES = 1;

interface Job {
  m: SendInput;
  resolve: (o: SendOutcome) => void;
  reject: (e: unknown) => void;
}

interface Lane {
  queue: Job[];
  running: boolean;
}

export interface GroupCommitStats {
  batches: number;
  rows: number;
  /** Batches rolled back and rerun row by row. */
  fallbacks: number;
}

export class GroupCommit {
  private readonly lanes: Lane[] = Array.from({ length: GROUP_COMMIT_LANES }, () => ({
    queue: [],
    running: false,
  }));
  readonly stats: GroupCommitStats = { batches: 0, rows: 0, fallbacks: 0 };

  constructor(
    private readonly pool: Pool,
    private readonly logger: Logger,
  ) {}

  /** Stores `m` (in a batch with whatever else arrives now); resolves once it is committed. */
  submit(m: SendInput): Promise<SendOutcome> {
    const lane = this.lanes[laneOf(m.senderId)] as Lane;
    return new Promise<SendOutcome>((resolve, reject) => {
      lane.queue.push({ m, resolve, reject });
      if (!lane.running) {
        lane.running = true;
        setImmediate(() => void this.run(lane));
      }
    });
  }

  private async run(lane: Lane): Promise<void> {
    try {
      while (lane.queue.length > 0) {
        const jobs = lane.queue.splice(0, GROUP_COMMIT_MAX_ROWS);
        this.stats.batches++;
        this.stats.rows += jobs.length;
        if (jobs.length === 1) await this.alone(jobs[0] as Job);
        else await this.batch(jobs);
      }
    } finally {
      lane.running = false;
    }
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

/** FNV-1a over the sender id: the same sender always maps to the same lane. */
function laneOf(senderId: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < senderId.length; i++) {
    h ^= senderId.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return (h >>> 0) % GROUP_COMMIT_LANES;
}
