// End-to-end tests: real Chromium (/usr/bin/chromium via playwright-core, never downloaded),
// the app served by Vite, and — for the flows that need it — the real relay over an
// embedded PostgreSQL. Run: npm run test:e2e -w pwa
import { defaultServerConditions } from 'vite';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  // crypto-core from its TypeScript source (its "source" export condition), as in
  // vitest.config.ts: an e2e file runs on its own without a crypto-core build.
  ssr: { resolve: { conditions: ['source', ...defaultServerConditions] } },
  test: {
    environment: 'node',
    include: ['e2e/**/*.e2e.ts'],
    // On a failed test, the relay's state and last log lines (e2e/setup.ts).
    setupFiles: ['e2e/setup.ts'],
    testTimeout: 120_000,
    hookTimeout: 240_000,
    fileParallelism: false,
  },
});
