import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    // Several files run `npm start`, which builds crypto-core, the relay and the PWA when their
    // sources changed (always, on a clean clone): one file at a time, so two builds never write
    // the same dist/ at once.
    fileParallelism: false,
  },
});
