// pino logger. Request logs carry method, path, status, request id and timing only: never
// headers, query strings or bodies, so tokens, TOTP codes, secrets and ciphertext cannot reach
// a log line. The redact list is a second line of defence for objects logged by hand.
import { type DestinationStream, type Logger, pino } from 'pino';

export const REDACT_PATHS = [
  'req.headers',
  'res.headers',
  'headers',
  'authorization',
  'body',
  'code',
  'token',
  'secret',
  'password',
  'accessToken',
  'refreshToken',
  'access_token',
  'refresh_token',
  'totp_secret',
  'recovery_codes',
  '*.authorization',
  '*.body',
  '*.code',
  '*.token',
  '*.secret',
  '*.accessToken',
  '*.refreshToken',
  '*.access_token',
  '*.refresh_token',
  '*.totp_secret',
];

export function createLogger(level: string, destination?: DestinationStream): Logger {
  return pino({ level, redact: { paths: REDACT_PATHS, censor: '[redacted]' } }, destination);
}

export type { Logger };
