import react from '@vitejs/plugin-react';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  plugins: [react()],
  resolve: { conditions: ['source', 'browser', 'module', 'import', 'default'] },
  test: {
    environment: 'happy-dom',
    setupFiles: ['./src/test/setup.ts'],
    // One real relay + embedded PostgreSQL for the run (src/test/relay.ts).
    globalSetup: ['./test-relay/global-setup.ts'],
    hookTimeout: 60_000,
    // A generous ceiling, not a timing assertion: tests that register devices on the real relay
    // generate protocol version 2 account keys (100 signed one-time ML-KEM-768 prekeys each,
    // ~1–2.5 s on two shared cores), and a test may create four devices.
    testTimeout: 60_000,
    include: ['src/**/*.test.{ts,tsx}', 'test-node/**/*.test.ts'],
  },
});
