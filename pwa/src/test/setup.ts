// Vitest setup: a real IndexedDB implementation (fake-indexeddb is a complete IndexedDB in
// JS, not a stub) and a clean DOM between component tests.
import 'fake-indexeddb/auto';
import { cleanup } from '@testing-library/react';
import { afterEach } from 'vitest';

afterEach(() => {
  cleanup();
});
