import { describe, expect, it } from 'vitest';
import { defaultAesGcm, nobleAesGcm, webCryptoAesGcm } from '../src/aes-gcm.js';
import { CryptoCoreError } from '../src/errors.js';

const key = new Uint8Array(32).fill(7);
const nonce = new Uint8Array(12).fill(9);
const ad = new Uint8Array([1, 2, 3]);
const backends = [nobleAesGcm, webCryptoAesGcm(globalThis.crypto.subtle)];

describe('AES-256-GCM backends', () => {
  it('picks WebCrypto where crypto.subtle exists', () => {
    expect(defaultAesGcm().backend).toBe('webcrypto');
  });

  it('produce identical bytes and open each other', async () => {
    const pt = new Uint8Array(1000).map((_, i) => i & 0xff);
    const [a, b] = await Promise.all(backends.map((g) => g.encrypt(key, nonce, pt, ad)));
    expect(a).toEqual(b);
    for (const g of backends) expect(await g.decrypt(key, nonce, a as Uint8Array, ad)).toEqual(pt);
  });

  it.each(backends.map((g) => [g.backend, g] as const))(
    '%s rejects a flipped bit as AUTH_FAILED',
    async (_, g) => {
      const ct = await g.encrypt(key, nonce, new Uint8Array(20), ad);
      ct[3] = (ct[3] as number) ^ 1;
      await expect(g.decrypt(key, nonce, ct, ad)).rejects.toMatchObject({ code: 'AUTH_FAILED' });
      await expect(g.decrypt(key, nonce, new Uint8Array(5), ad)).rejects.toBeInstanceOf(CryptoCoreError);
    },
  );
});
