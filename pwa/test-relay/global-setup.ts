// Vitest global setup for the unit suite: ONE real relay (relay/src/server.ts through tsx, on
// its own embedded PostgreSQL in a temp dir — the same launcher as the e2e suite) for the
// whole run; tests reach it through src/test/relay.ts and use fresh users, so they do not
// interfere. Limits meant for the public are raised: every test registers from 127.0.0.1 and
// sends in bursts; the limits themselves are the relay suite's to test.
import type { TestProject } from 'vitest/node';
import { startRelay } from '../e2e/relay.ts';
import type {} from '../src/test/provided.ts';

const ORIGIN = 'http://127.0.0.1:1';

export default async function setup(project: TestProject) {
  const relay = await startRelay(ORIGIN, {
    REGISTER_IP_PER_HOUR: '10000',
    SEND_RATE_BURST: '10000',
    SEND_RATE_PER_SECOND: '1000',
    PREKEY_FETCH_BURST: '1000',
    PREKEY_FETCH_PER_MINUTE: '6000',
    WS_MAX_CONNECTIONS_PER_IP: '100000',
    HTTP_MAX_REQUESTS_PER_IP: '100000',
  });
  project.provide('relayUrl', `http://127.0.0.1:${relay.port}`);
  project.provide('relayOrigin', ORIGIN);
  return () => relay.stop();
}
