// Turns an action's rejection into a sentence for the user. Codes come from the state layer
// (AppErrorCode); anything that is not an AppError is shown as the generic error, so no
// internal detail (or secret) ever reaches the screen.
import type { MessageKey, Translate } from '../i18n/i18n.ts';
import { isAppError } from '../state/errors.ts';
import type { AppErrorCode } from '../state/types.ts';

/** Every error code has its sentence: a code added without one fails to compile here. */
export function errorKey(code: AppErrorCode): MessageKey {
  return `error.${code}`;
}

export function errorCode(e: unknown): AppErrorCode {
  return isAppError(e) ? e.code : 'unknown';
}

/** In the language of `t` (the caller's useT()). */
export function errorText(e: unknown, t: Translate): string {
  return t(errorKey(errorCode(e)));
}

/** When a lockout or rate limit ends (epoch ms), if the error says. */
export function retryAt(e: unknown, now: number = Date.now()): number | null {
  return isAppError(e) && e.retryAfter !== undefined ? now + e.retryAfter * 1000 : null;
}
