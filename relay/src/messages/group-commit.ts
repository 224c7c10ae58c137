// Group commit for sends (relay/BENCHMARKS.md, "group commit"): sends that arrive together, from
// HTTP and WebSocket alike, are stored in ONE transaction, so a batch of N messages pays one
// commit (one WAL flush) instead of N. Each send keeps its own statement and its own outcome
// (insertMessage, the single rule for storing a message).
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
//   two lanes cannot deadlock on them. Stream seqs stay gap-free and ordered per recipient: the
//   counter row is locked from a row's statement until the batch commits, as it is today for
//   one statement.
// - A failing row fails only itself: any error aborts the transaction, which is rolled back
//   (nothing of it was stored or announced), and every row of the batch is then run again on
//   its own, as an autocommitted statement, each with its own outcome. Idempotency by
//   client_id makes the rerun safe even when the failure was a lost COMMIT answer.
// - Results are handed out only after COMMIT returns: nothing is acknowledged to a sender
//   before it is durable.
import type { Pool, PoolClient } from '../db/pool.js';
import type { Logger } from '../logger.js';
import { insertMessage, type SendInput, type SendOutcome } from './store.js';

/** Most rows in one transaction: bounds the time the recipients' counters stay locked. */
export const GROUP_COMMIT_MAX_ROWS = 64;
/** Batches in flight per process (each holds one pool connection while it runs). */
export const GROUP_COMMIT_LANES = 4;

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
      job.resolve(await insertMessage(this.pool, job.m));
    } catch (err) {
      job.reject(err);
    }
  }

  private async batch(jobs: Job[]): Promise<void> {
    const order = jobs
      .map((job, i) => ({ job, i }))
      .sort((a, b) => (a.job.m.to < b.job.m.to ? -1 : a.job.m.to > b.job.m.to ? 1 : a.i - b.i));
    const outcomes = new Map<Job, SendOutcome>();
    let client: PoolClient | undefined;
    try {
      client = await this.pool.connect();
      await client.query('BEGIN');
      for (const { job } of order) outcomes.set(job, await insertMessage(client, job.m));
      await client.query('COMMIT');
    } catch (err) {
      this.stats.fallbacks++;
      this.logger.warn(
        { err: { message: (err as Error).message }, rows: jobs.length },
        'send batch rerun row by row',
      );
      if (client) {
        const c = client;
        client = undefined;
        // A connection whose transaction cannot be rolled back is discarded, not reused.
        await c.query('ROLLBACK').then(
          () => c.release(),
          (e: Error) => c.release(e),
        );
      }
      for (const job of jobs) await this.alone(job);
      return;
    } finally {
      client?.release();
    }
    for (const job of jobs) job.resolve(outcomes.get(job) as SendOutcome);
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
