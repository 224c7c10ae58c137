// Recovery codes waiting to be shown after registration. Memory only — never persisted, not
// put in router history state — and cleared once the user confirms they saved them. A
// module signal because confirming registration signs in, and the route guard then moves the
// user from /register to /chats, which shows them (RecoveryCodes).
import { signal } from '@preact/signals-react';

export const pendingRecoveryCodes = signal<readonly string[] | null>(null);
