// Types of until.mjs for the TypeScript tests that import it.
export function until(
  check: () => boolean,
  what?: string,
  options?: { timeoutMs?: number; intervalMs?: number },
): Promise<void>;
