/**
 * Wycheproof aes_gcm_test.json (groups with 256-bit keys and 96-bit IVs) through both
 * AES-GCM backends crypto-core uses (src/aes-gcm.ts), per call and with a bound key
 * (withKey, the C2SP chunk path): every valid vector encrypts to its ct ‖ tag and decrypts
 * back; every invalid one is rejected with AUTH_FAILED; a disposed key refuses to work.
 */
import { describe, expect, it } from 'vitest';
import { concat } from '../src/bytes.js';
import { byBackend } from './util/backends.js';
import { hex, loadWycheproof, type WycheproofTest } from './util/wycheproof.js';

const FILE = 'aes_gcm_test.json';
const tests: WycheproofTest[] = loadWycheproof(FILE)
  .testGroups.filter((g) => g.keySize === 256 && g.ivSize === 96 && g.tagSize === 128)
  .flatMap((g) => g.tests);
const cases = tests.map((t) => [`tcId ${t.tcId} ${t.result}: ${t.comment}`, t] as const);

describe('Wycheproof AES-256-GCM (96-bit IV)', () => {
  it('selected the 256-bit / 96-bit groups, valid and invalid', () => {
    expect(tests.filter((t) => t.result === 'valid').length).toBeGreaterThan(10);
    expect(tests.filter((t) => t.result === 'invalid').length).toBeGreaterThan(10);
  });

  describe.each(byBackend)('%s', (_, aes) => {
    it.each(cases)('%s', async (_id, t) => {
      const [key, iv, aad, msg] = [
        hex(t.key as string),
        hex(t.iv as string),
        hex(t.aad as string),
        hex(t.msg as string),
      ];
      const sealed = concat(hex(t.ct as string), hex(t.tag as string));
      const keyed = await aes.withKey(key);
      if (t.result === 'valid') {
        expect(await aes.encrypt(key, iv, msg, aad)).toEqual(sealed);
        expect(await aes.decrypt(key, iv, sealed, aad)).toEqual(msg);
        expect(await keyed.encrypt(iv, msg, aad)).toEqual(sealed);
        expect(await keyed.decrypt(iv, sealed, aad)).toEqual(msg);
      } else {
        await expect(aes.decrypt(key, iv, sealed, aad)).rejects.toMatchObject({ code: 'AUTH_FAILED' });
        await expect(keyed.decrypt(iv, sealed, aad)).rejects.toMatchObject({ code: 'AUTH_FAILED' });
      }
      keyed.dispose();
      await expect(keyed.encrypt(iv, msg, aad)).rejects.toMatchObject({ code: 'BAD_STATE' });
    });
  });
});
