// The prekey lifecycle (spec/protocol.md §4.7) under random schedules: clock jumps of up to
// three days and uploads that fail at random. The relay is a stub that keeps what it accepted
// (the real relay's behaviour is the session-manager tests'); the store is the real encrypted
// IndexedDB one.
import { generateIdentity } from '@secure-drop/crypto-core/identity';
import { generatePqPreKey, generateSignedPreKey } from '@secure-drop/crypto-core/prekeys';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { openIdbStorage } from '../storage/idb-storage.ts';
import type { KeysUpload } from '../transport/api.ts';
import {
  maintainPrekeys,
  PREKEY_ROTATION_INTERVAL_MS,
  RETIRED_PREKEY_GRACE_MS,
  rotationDue,
} from './prekey-lifecycle.ts';
import { RECORD, type StoredPrekeyState } from './records.ts';

const DAY = 24 * 60 * 60 * 1000;

/** A store with an identity and signed prekey pair 1, already published (no one-time stock). */
async function freshDevice(now: number) {
  const storage = await openIdbStorage(`lifecycle-${crypto.randomUUID()}`);
  const identity = generateIdentity();
  const state: StoredPrekeyState = {
    identityUploaded: true,
    signedPreKeyId: 1,
    pqPreKeyId: 1,
    rotatedAt: now,
    uploaded: true,
    retired: [],
    nextOneTimeId: 1,
    nextOneTimePqId: 1,
    pendingOneTime: null,
    pendingOneTimePq: null,
  };
  await storage.write([
    { kind: 'put', key: RECORD.identity, value: { username: 'bob', keyPair: identity } },
    { kind: 'put', key: RECORD.signedPreKey(1), value: generateSignedPreKey(identity, 1) },
    { kind: 'put', key: RECORD.pqPreKey(1), value: generatePqPreKey(identity, 1) },
    { kind: 'put', key: RECORD.prekeyState, value: state },
  ]);
  return storage;
}

const storedIds = async (storage: Awaited<ReturnType<typeof freshDevice>>, prefix: string) =>
  (await storage.list<{ id: number }>(prefix)).map((r) => r.value.id).sort((a, b) => a - b);

describe('prekey lifecycle under random schedules', () => {
  it('never serves a deleted secret, deletes only after the grace period, rotates when due, ids only grow', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.record({ advance: fc.nat({ max: 3 * DAY }), uploadFails: fc.boolean() }), {
          minLength: 1,
          maxLength: 8,
        }),
        async (steps) => {
          let now = Date.UTC(2026, 0, 1);
          const storage = await freshDevice(now);
          let served = 1; // the signed prekey id the relay hands out
          let failing = false;
          const relay = {
            async uploadKeys(keys: KeysUpload) {
              if (failing) throw new Error('offline');
              const id = keys.signedPreKey?.id;
              if (id !== undefined) {
                expect(id).toBeGreaterThanOrEqual(served); // never backwards
                served = id;
              }
              return {};
            },
          };
          /** When the relay stopped serving each id (its successor was accepted). */
          const replacedAt = new Map<number, number>();
          for (const step of steps) {
            now += step.advance;
            failing = step.uploadFails;
            const before = (await storage.get<StoredPrekeyState>(RECORD.prekeyState)) as StoredPrekeyState;
            const servedBefore = served;
            const result = await maintainPrekeys(storage, relay, now);
            const state = (await storage.get<StoredPrekeyState>(RECORD.prekeyState)) as StoredPrekeyState;
            for (let id = servedBefore; id < served; id++) if (!replacedAt.has(id)) replacedAt.set(id, now);

            // Rotation: when due and the current pair was published, exactly one new pair.
            expect(result.rotated).toBe(before.uploaded && rotationDue(before, now));
            expect(state.signedPreKeyId).toBe(before.signedPreKeyId + (result.rotated ? 1 : 0));
            expect(state.pqPreKeyId).toBe(state.signedPreKeyId);
            const attempted = result.rotated || !before.uploaded;
            expect(state.uploaded).toBe(attempted ? !step.uploadFails : before.uploaded);
            // The relay serves the newest pair it accepted (an unpublished one's predecessor).
            expect(served).toBe(state.uploaded ? state.signedPreKeyId : state.signedPreKeyId - 1);
            const spks = await storedIds(storage, 'spk:');
            const pqs = await storedIds(storage, 'pqpk:');
            expect(spks).toContain(served);
            expect(spks).toContain(state.signedPreKeyId);
            expect(pqs).toEqual(spks);
            // Held = current + retired, nothing else; a pair goes exactly when its grace is over.
            expect(spks).toEqual([...state.retired.map((r) => r.signedPreKeyId), state.signedPreKeyId]);
            for (let id = 1; id < state.signedPreKeyId; id++) {
              const since = replacedAt.get(id);
              const expired = since !== undefined && now - since >= RETIRED_PREKEY_GRACE_MS;
              expect(spks.includes(id)).toBe(!expired);
            }
          }
          await storage.erase();
        },
      ),
      { numRuns: 50 },
    );
  }, 120_000);

  it('rotates at start when the last rotation is overdue, and not before', async () => {
    const now = Date.UTC(2026, 0, 1);
    const storage = await freshDevice(now);
    const relay = { uploadKeys: async () => ({}) };
    expect((await maintainPrekeys(storage, relay, now + PREKEY_ROTATION_INTERVAL_MS - 1)).rotated).toBe(
      false,
    );
    expect((await maintainPrekeys(storage, relay, now + PREKEY_ROTATION_INTERVAL_MS)).rotated).toBe(true);
    // A clock set back counts as due: the schedule never stalls on a wrong clock.
    expect((await maintainPrekeys(storage, relay, now)).rotated).toBe(true);
  });
});
