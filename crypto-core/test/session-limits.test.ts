// The bounds of spec §12: MAX_SKIP per step, the stored-key cap with eviction, the age
// bound (injected clock), and that a refused message leaves the state unchanged.
import { describe, expect, it } from 'vitest';
import {
  acceptSession,
  decryptMessage,
  encryptMessage,
  initiateSession,
  type SessionState,
} from '../src/session.js';
import { serializeSession } from '../src/session-codec.js';
import { MAX_SKIP, MAX_SKIPPED_KEY_AGE_MS, MAX_SKIPPED_KEYS } from '../src/session-limits.js';
import { ACC, CTX, content, enc, makeParties, opts } from './fixtures.js';

const P = makeParties('limits');

async function sendMany(
  s: SessionState,
  n: number,
  label: string,
): Promise<{ session: SessionState; messages: Uint8Array[] }> {
  const messages: Uint8Array[] = [];
  const o = opts(label);
  for (let i = 0; i < n; i++) {
    const out = await encryptMessage(s, 'text', content(enc(`${label} ${i}`)), o);
    s = out.session;
    messages.push(out.message);
  }
  return { session: s, messages };
}

describe('skipped-key limits', () => {
  it(`a jump of more than MAX_SKIP (${MAX_SKIP}) keys is TOO_MANY_SKIPPED with state unchanged`, async () => {
    const a0 = initiateSession(P.alice, P.bundle, ACC, opts('l1')).session;
    const { messages } = await sendMany(a0, MAX_SKIP + 3, 'l1');
    const b = await acceptSession(P.bobKeys, messages[0] as Uint8Array, CTX, opts('l1b'));
    const before = serializeSession(b.session);
    // messages[MAX_SKIP + 2] needs keys 1..MAX_SKIP+1 skipped: one too many.
    await expect(decryptMessage(b.session, messages[MAX_SKIP + 2] as Uint8Array)).rejects.toMatchObject({
      code: 'TOO_MANY_SKIPPED',
    });
    expect(serializeSession(b.session)).toEqual(before);
    // Exactly MAX_SKIP is allowed; the keys are stored and later used once each.
    const r = await decryptMessage(b.session, messages[MAX_SKIP + 1] as Uint8Array, opts('l1c'));
    expect(r.session.skippedKeys.length).toBe(MAX_SKIP);
    const late = await decryptMessage(r.session, messages[500] as Uint8Array, opts('l1c'));
    expect(late.session.skippedKeys.length).toBe(MAX_SKIP - 1);
    await expect(decryptMessage(late.session, messages[500] as Uint8Array)).rejects.toMatchObject({
      code: 'DUPLICATE_MESSAGE',
    });
    // A new-chain header announcing a previous chain too long to skip is refused before
    // any DH or AEAD work (the PN field is authenticated, but the bound is checked first).
    const reply = await encryptMessage(late.session, 'text', content(enc('r')), opts('l1d'));
    const aGot = await decryptMessage(a0, reply.message, opts('l1e'));
    const next = await encryptMessage(aGot.session, 'text', content(enc('n')), opts('l1f'));
    const forged = next.message.slice();
    forged.set([0, 0, 0x20, 0], 36); // PN = 8192
    const held = serializeSession(reply.session);
    await expect(decryptMessage(reply.session, forged)).rejects.toMatchObject({ code: 'TOO_MANY_SKIPPED' });
    expect(serializeSession(reply.session)).toEqual(held);
    expect((await decryptMessage(reply.session, next.message)).body).toEqual(enc('n'));
  }, 60_000);

  it(`stored keys never exceed MAX_SKIPPED_KEYS (${MAX_SKIPPED_KEYS}); the oldest are evicted`, async () => {
    let a = initiateSession(P.alice, P.bundle, ACC, opts('l2')).session;
    const first = await encryptMessage(a, 'text', content(enc('hello')), opts('l2'));
    a = first.session;
    let b = (await acceptSession(P.bobKeys, first.message, CTX, opts('l2b'))).session;
    const oldest: Uint8Array[] = [];
    for (let round = 0; round < 3; round++) {
      // Alice sends MAX_SKIP + 1 messages on a fresh chain; Bob receives only the last.
      const batch = await sendMany(a, MAX_SKIP + 1, `l2 round ${round}`);
      a = batch.session;
      if (round === 0) oldest.push(batch.messages[0] as Uint8Array);
      b = (await decryptMessage(b, batch.messages[MAX_SKIP] as Uint8Array, opts(`l2b ${round}`))).session;
      expect(b.skippedKeys.length).toBeLessThanOrEqual(MAX_SKIPPED_KEYS);
      // Bob replies so Alice's next batch is on a new chain (a DH ratchet step).
      const reply = await encryptMessage(b, 'text', content(enc('ack')), opts(`l2r ${round}`));
      b = reply.session;
      a = (await decryptMessage(a, reply.message, opts(`l2a ${round}`))).session;
    }
    expect(b.skippedKeys.length).toBe(MAX_SKIPPED_KEYS);
    // Round 0's keys were the oldest: evicted, so that message can no longer be read.
    await expect(decryptMessage(b, oldest[0] as Uint8Array)).rejects.toMatchObject({
      code: 'DUPLICATE_MESSAGE',
    });
    expect(serializeSession(b).length).toBeLessThan(MAX_SKIPPED_KEYS * 120 + 2000);
  }, 60_000);

  it('skipped keys older than MAX_SKIPPED_KEY_AGE_MS are deleted (injected clock)', async () => {
    let now = 5_000_000;
    const clock = () => now;
    let a = initiateSession(P.alice, P.bundle, ACC, opts('l3')).session;
    const { session, messages } = await sendMany(a, 3, 'l3');
    a = session;
    const b = await acceptSession(P.bobKeys, messages[2] as Uint8Array, CTX, opts('l3b', clock));
    expect(b.session.skippedKeys.map((k) => k.storedAt)).toEqual([now, now]);
    now += MAX_SKIPPED_KEY_AGE_MS; // exactly the bound: still kept
    const r1 = await decryptMessage(b.session, messages[0] as Uint8Array, opts('l3c', clock));
    expect(r1.session.skippedKeys.length).toBe(1);
    now += 1; // one millisecond past: the remaining key expires at the next decryption
    const reply = await encryptMessage(r1.session, 'text', content(enc('r')), opts('l3d'));
    const aGot = await decryptMessage(a, reply.message, opts('l3e', clock));
    const more = await encryptMessage(aGot.session, 'text', content(enc('x')), opts('l3f'));
    const r2 = await decryptMessage(reply.session, more.message, opts('l3g', clock));
    expect(r2.session.skippedKeys.length).toBe(0);
    await expect(decryptMessage(r2.session, messages[1] as Uint8Array)).rejects.toMatchObject({
      code: 'DUPLICATE_MESSAGE',
    });
  });
});
