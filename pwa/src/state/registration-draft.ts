// A registration in progress, kept in this tab's sessionStorage until it is confirmed, given up
// or expired: a phone often reloads the tab while the user is in the authenticator app, and the
// relay holds the name for the pending registration (spec/openapi.yaml POST /register,
// `expires_at`), so a page that forgot it would find its own name taken for ten minutes and the
// authenticator entry just added useless. The TOTP secret is kept only until the first code
// confirms it (it is on the screen meanwhile anyway) and never in localStorage: it goes with the
// tab.

/** The sessionStorage key. */
const KEY = 'secure-drop:registration';

export interface RegistrationDraft {
  readonly username: string;
  readonly otpauthUri: string;
  readonly secret: string;
  readonly qrImageUrl: string;
  /** When the relay lets the pending registration go (ms since the epoch). */
  readonly expiresAt: number;
}

const store = (): Storage | null => {
  try {
    return globalThis.sessionStorage ?? null;
  } catch {
    return null; // storage disabled
  }
};

export function saveDraft(draft: RegistrationDraft): void {
  try {
    store()?.setItem(KEY, JSON.stringify(draft));
  } catch {
    // Full or disabled: a reload then starts over, as before.
  }
}

/** The draft of this tab, if it has one that has not expired at `now`. */
export function loadDraft(now: number = Date.now()): RegistrationDraft | null {
  let draft: Partial<RegistrationDraft> | null = null;
  try {
    draft = JSON.parse(store()?.getItem(KEY) ?? 'null');
  } catch {
    draft = null;
  }
  const valid =
    draft !== null &&
    typeof draft === 'object' &&
    typeof draft.username === 'string' &&
    typeof draft.otpauthUri === 'string' &&
    draft.otpauthUri.startsWith('otpauth://') &&
    typeof draft.secret === 'string' &&
    typeof draft.qrImageUrl === 'string' &&
    typeof draft.expiresAt === 'number' &&
    draft.expiresAt > now;
  if (!valid) {
    clearDraft();
    return null;
  }
  return draft as RegistrationDraft;
}

export function clearDraft(): void {
  try {
    store()?.removeItem(KEY);
  } catch {
    // nothing kept
  }
}
