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
    // The suite shares two cores with other work: a registration (ML-KEM keys, a relay round
    // trip) can take several seconds there, past Vitest's 5 s default.
    testTimeout: 30_000,
    include: ['src/**/*.test.{ts,tsx}', 'test-node/**/*.test.ts'],
  },
});
