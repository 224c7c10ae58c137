import { defineConfig } from 'vitest/config';

export default defineConfig({
  // A workspace package (crypto-core) is imported from its TypeScript source (its "source"
  // export condition), so the suite runs on a clean clone without building it first.
  // The other three are Vite's defaults for server code.
  ssr: { resolve: { conditions: ['source', 'module', 'node', 'development|production'] } },
  test: {
    include: ['test/**/*.test.ts'],
    environment: 'node',
    // One real PostgreSQL for the whole run (embedded, or DATABASE_URL); each file gets its own database.
    globalSetup: ['test/global-setup.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
  },
});
