// Server secrets: the JWT signing key and the key that encrypts TOTP secrets at rest.
// Production: both must come from the environment, and placeholders are refused.
// Development: a missing value is generated once into DATA_DIR/secrets.json (mode 0600) and reused,
// so restarts keep sessions and stored TOTP secrets valid.
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError } from './config-error.js';

export interface Secrets {
  /** HS256 key, ≥ 32 bytes (RFC 7518 §3.2: key ≥ hash size). */
  jwtKey: Uint8Array;
  /** AES-256-GCM key for users.totp_secret, exactly 32 bytes. */
  totpKey: Uint8Array;
}

// Obvious template values; random base64 of 32 bytes never matches these.
const PLACEHOLDER = /change[-_ ]?me|placeholder|^(secret|example|todo|x+|0+|test)$/i;

function decode(name: string, value: string, exact?: number): Uint8Array {
  if (PLACEHOLDER.test(value))
    throw new ConfigError(`${name} is a placeholder; generate one: openssl rand -base64 32`);
  if (!/^[A-Za-z0-9+/_-]+={0,2}$/.test(value)) throw new ConfigError(`${name} must be base64 or base64url`);
  const bytes = new Uint8Array(
    Buffer.from(value, value.includes('-') || value.includes('_') ? 'base64url' : 'base64'),
  );
  if (exact !== undefined ? bytes.length !== exact : bytes.length < 32)
    throw new ConfigError(`${name} must decode to ${exact ?? 'at least 32'} bytes (openssl rand -base64 32)`);
  return bytes;
}

interface StoredSecrets {
  JWT_SECRET: string;
  TOTP_ENCRYPTION_KEY: string;
}

function devSecrets(dataDir: string): StoredSecrets {
  const file = join(dataDir, 'secrets.json');
  if (existsSync(file)) return JSON.parse(readFileSync(file, 'utf8')) as StoredSecrets;
  // 0711: the embedded PostgreSQL (its own OS user) must traverse DATA_DIR but not list it.
  mkdirSync(dataDir, { recursive: true, mode: 0o711 });
  const fresh: StoredSecrets = {
    JWT_SECRET: randomBytes(32).toString('base64'),
    TOTP_ENCRYPTION_KEY: randomBytes(32).toString('base64'),
  };
  writeFileSync(file, `${JSON.stringify(fresh, null, 2)}\n`, { mode: 0o600, flag: 'wx' });
  chmodSync(file, 0o600);
  return fresh;
}

export function resolveSecrets(opts: {
  development: boolean;
  dataDir: string;
  jwtSecret: string | undefined;
  totpKey: string | undefined;
}): Secrets {
  let { jwtSecret, totpKey } = opts;
  if (opts.development && (!jwtSecret || !totpKey)) {
    const stored = devSecrets(opts.dataDir);
    jwtSecret ||= stored.JWT_SECRET;
    totpKey ||= stored.TOTP_ENCRYPTION_KEY;
  }
  if (!jwtSecret) throw new ConfigError('JWT_SECRET is required outside development');
  if (!totpKey) throw new ConfigError('TOTP_ENCRYPTION_KEY is required outside development');
  return { jwtKey: decode('JWT_SECRET', jwtSecret), totpKey: decode('TOTP_ENCRYPTION_KEY', totpKey, 32) };
}
