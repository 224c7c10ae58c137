// PostgreSQL breaks a lock cycle by aborting one of its transactions with SQLSTATE 40P01
// (PostgreSQL manual, "Deadlocks"). Sends in a group-committed batch lock stream counters in
// recipient-name order while acknowledgements lock them in user-id order, so a cycle is rare
// but possible; the aborted statement changed nothing, and every statement retried through
// here is idempotent (a send by its client_id, an acknowledgement of ids already acknowledged
// acknowledges nothing more), so it is simply run again.

/** How often a statement aborted by deadlock detection is run again before the error stands. */
export const DEADLOCK_RETRIES = 2;

const isDeadlock = (err: unknown) =>
  typeof err === 'object' && err !== null && (err as { code?: unknown }).code === '40P01';

/** Runs `statement`, again (at most DEADLOCK_RETRIES times) when PostgreSQL aborted it as a deadlock victim. */
export async function retryOnDeadlock<T>(statement: () => Promise<T>): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await statement();
    } catch (err) {
      if (!isDeadlock(err) || attempt >= DEADLOCK_RETRIES) throw err;
    }
  }
}
