// What test-relay/global-setup.ts provides to the test files (vitest's inject()).
declare module 'vitest' {
  export interface ProvidedContext {
    /** Base URL of the real relay started for this run. */
    relayUrl: string;
    /** The Origin the relay's WebSocket accepts (its WS_ALLOWED_ORIGINS). */
    relayOrigin: string;
  }
}

export {};
