/** Both AES-256-GCM backends, so every known-answer test runs through each of them. */
import { type AesGcm, nobleAesGcm, webCryptoAesGcm } from '../../src/aes-gcm.js';

export const backends: AesGcm[] = [webCryptoAesGcm(globalThis.crypto.subtle), nobleAesGcm];
export const byBackend = backends.map((aes) => [aes.backend, aes] as const);
