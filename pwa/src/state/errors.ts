// The one error type actions reject with (see AppErrorShape in types.ts). Messages never
// carry secrets, codes, tokens or plaintext: only the code and a retry hint.
import type { AppErrorCode, AppErrorShape } from './types.ts';

export class AppError extends Error implements AppErrorShape {
  readonly code: AppErrorCode;
  readonly retryAfter?: number;

  constructor(code: AppErrorCode, options: { retryAfter?: number; cause?: unknown } = {}) {
    super(code, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'AppError';
    this.code = code;
    if (options.retryAfter !== undefined) this.retryAfter = options.retryAfter;
  }
}

export function isAppError(value: unknown): value is AppError {
  return value instanceof AppError;
}
