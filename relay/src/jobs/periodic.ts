// The relay's periodic jobs, started and stopped in one place (server.ts): each runs every
// SWEEP_INTERVAL_SECONDS, never overlapping itself, and a failure is logged and retried at the
// next tick. Every job is an idempotent sweep, safe to run in several processes at once.
import type { AppDeps } from '../deps.js';
import { sweepProvisioning } from '../devices/provisioning.js';
import { sweepOnce } from './retention.js';
import { sweepUploads } from './upload-expiry.js';

interface PeriodicJob {
  /** Names the job in its log lines. */
  name: string;
  /** One run as of `now`; logs what it did. */
  run: (deps: AppDeps, now: Date) => Promise<void>;
}

const JOBS: PeriodicJob[] = [
  {
    name: 'retention sweep',
    run: async (deps, now) => {
      const r = await sweepOnce(deps, now);
      if (r.messages || r.events || r.photos) deps.logger.info(r, 'retention sweep');
    },
  },
  {
    name: 'upload sweep',
    run: async (deps, now) => {
      const n = await sweepUploads(deps, now);
      if (n) deps.logger.info({ uploads: n }, 'expired photo uploads swept');
    },
  },
  {
    // Expired provisioning addresses and the sealed messages they may hold (spec/protocol.md §16).
    name: 'provisioning sweep',
    run: async (deps, now) => {
      const n = await sweepProvisioning(deps.pool, now);
      if (n) deps.logger.info({ addresses: n }, 'expired provisioning addresses swept');
    },
  },
];

/** Starts every periodic job; returns the function that stops them all. */
export function startPeriodicJobs(deps: AppDeps): () => void {
  const timers = JOBS.map((job) => {
    let running = false;
    const timer = setInterval(() => {
      if (running) return;
      running = true;
      job
        .run(deps, new Date(deps.clock.now()))
        .catch((err: Error) => deps.logger.warn({ err: { message: err.message } }, `${job.name} failed`))
        .finally(() => {
          running = false;
        });
    }, deps.config.messaging.sweepIntervalMs);
    timer.unref();
    return timer;
  });
  return () => {
    for (const timer of timers) clearInterval(timer);
  };
}
