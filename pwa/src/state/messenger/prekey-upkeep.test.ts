// Prekey top-ups against a HOSTILE relay's prekeys_low items (IncomingStream → onPrekeysLow →
// PrekeyUpkeep.topUp): each made the app generate, store and upload another batch of one-time
// secrets, without end (about 0.4 MB and 1–2.5 s of CPU per item). The device now keeps at
// most MAX_HELD_ONE_TIME unused secrets of each kind.
import { describe, expect, it } from 'vitest';
import { MAX_HELD_ONE_TIME, publishAccountKeys } from '../../secure/account-keys.ts';
import { RECORD } from '../../secure/records.ts';
import { SessionManager } from '../../secure/session-manager.ts';
import { openIdbStorage } from '../../storage/idb-storage.ts';
import { PrekeyUpkeep } from './prekey-upkeep.ts';

describe('prekeys_low from a hostile relay', () => {
  it('repeated items do not grow the one-time secrets kept on the device past their cap', async () => {
    const storage = await openIdbStorage(`hostile-prekeys-${crypto.randomUUID()}`);
    const relay = {
      // The hostile relay accepts every upload and always says the stock runs low.
      uploadKeys: async () => ({ device_id: 1 }),
      keyStatus: async () => ({
        signed_prekey_id: 1,
        pq_prekey_id: 1,
        prekeys_low: true,
        pq_prekeys_low: true,
      }),
      bundles: async () => {
        throw new Error('not used');
      },
      identity: async () => {
        throw new Error('not used');
      },
    };
    await publishAccountKeys(storage, 'victim', relay);
    const sm = new SessionManager(storage, relay as never);
    const upkeep = new PrekeyUpkeep({
      sm,
      api: relay as never,
      clock: Date.now,
      mailboxFetched: async () => true,
    });
    const held = async (prefix: string) => (await storage.list(prefix)).length;
    // Enough items to pass both caps by a batch or more.
    for (let i = 0; i < 13; i++) await upkeep.topUp();
    expect(await held(RECORD.oneTimePqPreKeyPrefix)).toBeLessThanOrEqual(MAX_HELD_ONE_TIME.mlkem);
    expect(await held(RECORD.oneTimePreKeyPrefix)).toBeLessThanOrEqual(MAX_HELD_ONE_TIME.x25519);
    // …and the cap is where top-ups stop, not a batch short of it.
    expect(await held(RECORD.oneTimePqPreKeyPrefix)).toBeGreaterThan(MAX_HELD_ONE_TIME.mlkem - 100);
  });
});
