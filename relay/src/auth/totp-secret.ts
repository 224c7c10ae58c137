// TOTP secrets at rest (SECURITY.md "What a stolen database gives an attacker"): AES-256-GCM under the server key from config.
// Stored form: version 0x01 || 12-byte random nonce || ciphertext || 16-byte tag. The associated
// data binds the ciphertext to its user id, so a row's secret cannot be swapped onto another user.
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';

const VERSION = 1;
const NONCE = 12;
const TAG = 16;

const ad = (userId: string) => Buffer.from(`secure-drop/totp-secret/v1:${userId}`, 'utf8');

export function encryptTotpSecret(key: Uint8Array, userId: string, secret: string): Buffer {
  const nonce = randomBytes(NONCE);
  const cipher = createCipheriv('aes-256-gcm', key, nonce, { authTagLength: TAG });
  cipher.setAAD(ad(userId));
  const ct = Buffer.concat([cipher.update(secret, 'utf8'), cipher.final()]);
  return Buffer.concat([Buffer.from([VERSION]), nonce, ct, cipher.getAuthTag()]);
}

/** Throws if the blob is malformed, of another version, tampered with, or bound to another user. */
export function decryptTotpSecret(key: Uint8Array, userId: string, blob: Uint8Array): string {
  const b = Buffer.from(blob);
  if (b.length < 1 + NONCE + TAG + 1 || b[0] !== VERSION) throw new Error('unsupported TOTP secret format');
  const decipher = createDecipheriv('aes-256-gcm', key, b.subarray(1, 1 + NONCE), { authTagLength: TAG });
  decipher.setAAD(ad(userId));
  decipher.setAuthTag(b.subarray(b.length - TAG));
  return Buffer.concat([decipher.update(b.subarray(1 + NONCE, b.length - TAG)), decipher.final()]).toString(
    'utf8',
  );
}
