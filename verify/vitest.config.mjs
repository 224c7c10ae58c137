// The verifier's tests build the PWA and run real django-host servers: generous timeouts, one
// file at a time (the machine's cores are shared).
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.mjs'],
    testTimeout: 300_000,
    hookTimeout: 300_000,
    fileParallelism: false,
  },
});
