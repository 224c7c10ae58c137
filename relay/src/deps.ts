import type { Clock } from './clock.js';
import type { Config } from './config.js';
import type { Pool } from './db/pool.js';
import type { Logger } from './logger.js';
import type { Notifier } from './notify/notifier.js';

/** Everything a route module may use; built once by server.ts (or a test) and passed to buildApp. */
export interface AppDeps {
  config: Config;
  pool: Pool;
  logger: Logger;
  clock: Clock;
  /** Cross-process events (src/notify): a stored message reaches sockets held by any relay process. */
  notifier: Notifier;
}
