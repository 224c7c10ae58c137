import react from '@vitejs/plugin-react';
import { defaultServerConditions } from 'vite';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  plugins: [react()],
  // crypto-core is imported from its TypeScript source (the "source" export condition of
  // crypto-core/package.json), so this suite needs no crypto-core build: in the browser-like
  // environment and in the files that run under `@vitest-environment node` alike.
  resolve: { conditions: ['source', 'browser', 'module', 'import', 'default'] },
  ssr: { resolve: { conditions: ['source', ...defaultServerConditions] } },
  test: {
    environment: 'happy-dom',
    setupFiles: ['./src/test/setup.ts'],
    // One real relay + embedded PostgreSQL for the run (src/test/relay.ts).
    globalSetup: ['./test-relay/global-setup.ts'],
    hookTimeout: 60_000,
    // A bound, not a wait: tests that register users on the real relay take seconds on a
    // loaded two-core machine, past vitest's 5 s default.
    testTimeout: 30_000,
    include: ['src/**/*.test.{ts,tsx}', 'test-node/**/*.test.ts'],
  },
});
