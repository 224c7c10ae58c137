// Prekey top-ups against a HOSTILE relay's prekeys_low items (IncomingStream → onPrekeysLow →
// PrekeyUpkeep.topUp): each made the app generate, store and upload another batch of one-time
// secrets, without end (about 0.4 MB and 1–2.5 s of CPU per item). The device now keeps at
// most MAX_HELD_ONE_TIME unused secrets of each kind: past it the oldest make room, and only
// once the mailbox is read to the end (a first message waiting there may name one).
import { describe, expect, it } from 'vitest';
import { MAX_HELD_ONE_TIME, publishAccountKeys } from '../../secure/account-keys.ts';
import { RECORD } from '../../secure/records.ts';
import { SessionManager } from '../../secure/session-manager.ts';
import { openIdbStorage } from '../../storage/idb-storage.ts';
import { PrekeyUpkeep } from './prekey-upkeep.ts';

/** A device whose relay accepts every upload and always says the stock runs low. */
async function hostile(mailboxFetched: boolean) {
  const storage = await openIdbStorage(`hostile-prekeys-${crypto.randomUUID()}`);
  const relay = {
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
    mailboxFetched: async () => mailboxFetched,
  });
  const held = async (prefix: string) => (await storage.list<{ id: number }>(prefix)).map((r) => r.value.id);
  return { upkeep, held };
}

describe('prekeys_low from a hostile relay', () => {
  it('repeated items do not grow the one-time secrets kept on the device past their cap; the oldest make room', async () => {
    const { upkeep, held } = await hostile(true);
    for (let i = 0; i < 13; i++) await upkeep.topUp();
    const pq = await held(RECORD.oneTimePqPreKeyPrefix);
    expect(pq).toHaveLength(MAX_HELD_ONE_TIME.mlkem);
    expect((await held(RECORD.oneTimePreKeyPrefix)).length).toBeLessThanOrEqual(MAX_HELD_ONE_TIME.x25519);
    // The newest are kept: 14 batches of 100 were made (ids 1–1,400), the oldest 900 went.
    expect(Math.min(...pq)).toBe(1400 - MAX_HELD_ONE_TIME.mlkem + 1);
  });

  it('with the mailbox not read to the end, a full stock makes no batch and nothing goes', async () => {
    const { upkeep, held } = await hostile(false);
    for (let i = 0; i < 6; i++) await upkeep.topUp();
    const pq = await held(RECORD.oneTimePqPreKeyPrefix);
    expect(pq).toHaveLength(MAX_HELD_ONE_TIME.mlkem);
    expect(Math.min(...pq)).toBe(1);
  });
});
