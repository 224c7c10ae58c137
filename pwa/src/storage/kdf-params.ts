// The app lock's Argon2id parameters and their bounds (passphrase.ts says why these values),
// apart so the key derivation worker (kdf-worker.ts) checks them with the same rule.

/** Argon2id cost parameters; m in KiB (RFC 9106 §3.1). */
export interface KdfParams {
  readonly alg: 'argon2id';
  readonly m: number;
  readonly t: number;
  readonly p: number;
  readonly salt: Uint8Array;
}

export const DEFAULT_KDF = { m: 65_536, t: 2, p: 1 } as const;
/** OWASP's floor (passphrase.ts): stored parameters below it are refused. */
export const MIN_KDF = { m: 19_456, t: 2, p: 1 } as const;
/** Ceilings, so a tampered store cannot make an unlock allocate gigabytes or run for minutes. */
export const MAX_KDF = { m: 1_048_576, t: 10, p: 4 } as const;
export const SALT_BYTES = 16;

export function newKdfParams(cost: { m: number; t: number; p: number } = DEFAULT_KDF): KdfParams {
  const params = {
    alg: 'argon2id' as const,
    ...cost,
    salt: crypto.getRandomValues(new Uint8Array(SALT_BYTES)),
  };
  validateKdfParams(params);
  return params;
}

/** Refuses stored parameters outside the bounds above (a boundary check on what is read back). */
export function validateKdfParams(k: KdfParams): void {
  const int = (v: unknown, lo: number, hi: number) =>
    typeof v === 'number' && Number.isInteger(v) && v >= lo && v <= hi;
  if (
    k.alg !== 'argon2id' ||
    !int(k.m, MIN_KDF.m, MAX_KDF.m) ||
    !int(k.t, MIN_KDF.t, MAX_KDF.t) ||
    !int(k.p, MIN_KDF.p, MAX_KDF.p) ||
    !(k.salt instanceof Uint8Array) ||
    k.salt.length !== SALT_BYTES
  )
    throw new RangeError('unsupported key derivation parameters');
}
