// Server secrets: the JWT signing key and the key that encrypts TOTP secrets at rest.
// Each comes from its variable (JWT_SECRET, TOTP_ENCRYPTION_KEY) or from a file named by
// <VAR>_FILE (a secrets mount, or a file kept outside DATA_DIR), never both.
// Production: both must be given, and placeholders are refused.
// Development: a value given neither way is generated once into DATA_DIR/secrets.json (mode 0600)
// and reused, so restarts keep sessions and stored TOTP secrets valid. That file sits beside the
// database it protects (SECURITY.md, "npm start"): a copy of DATA_DIR then decrypts every stored
// TOTP secret, which is why TOTP_ENCRYPTION_KEY(_FILE) is honoured in development too.
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
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

/** The generated development secrets named in `need`, creating the missing ones (only those:
 * a key given from outside is never also written beside the database). */
function devSecrets(dataDir: string, need: (keyof StoredSecrets)[]): Partial<StoredSecrets> {
  const file = join(dataDir, 'secrets.json');
  const stored: Partial<StoredSecrets> = existsSync(file) ? JSON.parse(readFileSync(file, 'utf8')) : {};
  const missing = need.filter((name) => !stored[name]);
  if (missing.length === 0) return stored;
  for (const name of missing) stored[name] = randomBytes(32).toString('base64');
  // 0711: the embedded PostgreSQL (its own OS user) must traverse DATA_DIR but not list it.
  mkdirSync(dataDir, { recursive: true, mode: 0o711 });
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(stored, null, 2)}\n`, { mode: 0o600 });
  renameSync(tmp, file);
  return stored;
}

/** A secret's value from NAME or from the file NAME_FILE names (trailing newline removed). */
export function secretFromEnv(
  name: string,
  value: string | undefined,
  file: string | undefined,
): string | undefined {
  if (value && file) throw new ConfigError(`set ${name} or ${name}_FILE, not both`);
  if (!file) return value || undefined;
  const path = resolve(file);
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'unreadable';
    throw new ConfigError(`${name}_FILE: cannot read ${path} (${code})`);
  }
  const trimmed = text.trim();
  if (!trimmed) throw new ConfigError(`${name}_FILE: ${path} is empty`);
  return trimmed;
}

export function resolveSecrets(opts: {
  development: boolean;
  dataDir: string;
  jwtSecret: string | undefined;
  totpKey: string | undefined;
  jwtSecretFile?: string | undefined;
  totpKeyFile?: string | undefined;
}): Secrets {
  let jwtSecret = secretFromEnv('JWT_SECRET', opts.jwtSecret, opts.jwtSecretFile);
  let totpKey = secretFromEnv('TOTP_ENCRYPTION_KEY', opts.totpKey, opts.totpKeyFile);
  if (opts.development && (!jwtSecret || !totpKey)) {
    const need: (keyof StoredSecrets)[] = [];
    if (!jwtSecret) need.push('JWT_SECRET');
    if (!totpKey) need.push('TOTP_ENCRYPTION_KEY');
    const stored = devSecrets(opts.dataDir, need);
    jwtSecret ||= stored.JWT_SECRET;
    totpKey ||= stored.TOTP_ENCRYPTION_KEY;
  }
  if (!jwtSecret) throw new ConfigError('JWT_SECRET is required outside development (or JWT_SECRET_FILE)');
  if (!totpKey)
    throw new ConfigError(
      'TOTP_ENCRYPTION_KEY is required outside development (or TOTP_ENCRYPTION_KEY_FILE)',
    );
  return { jwtKey: decode('JWT_SECRET', jwtSecret), totpKey: decode('TOTP_ENCRYPTION_KEY', totpKey, 32) };
}
