import { defineConfig } from 'vitest/config';

export default defineConfig({
  // @secure-drop/crypto-core from its TypeScript sources (its exports' "source" condition), as
  // the PWA's tests do, so a test run needs no crypto-core build. Node-environment tests are
  // resolved as SSR modules, hence ssr.resolve.
  ssr: { resolve: { conditions: ['source'] } },
  test: {
    include: ['test/**/*.test.ts'],
    environment: 'node',
    // One real PostgreSQL for the whole run (embedded, or DATABASE_URL); each file gets its own database.
    globalSetup: ['test/global-setup.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
  },
});
