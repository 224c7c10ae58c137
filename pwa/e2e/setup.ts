// Shared by every e2e file (vitest.e2e.config.ts setupFiles): when a test fails, the state and
// recent logs of the relays it ran against are printed with the failure, so a failure in CI says
// whether the relay was still there and what it did last (e2e/relay.ts relayReport).
import { beforeEach } from 'vitest';
import { relayReport } from './relay.ts';

beforeEach(({ onTestFailed, task }) => {
  onTestFailed(() => {
    const report = relayReport();
    if (report) console.error(`\n[e2e] relay after the failed test "${task.name}":\n${report}\n`);
  });
});
