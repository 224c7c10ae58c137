// An initial message whose EK_A gained a small-order component (spec §5.2, §6.3). X25519 clamps
// every scalar to a multiple of the cofactor 8, so u(EK_A + T) for a point T of order 8 gives
// Bob the same DH outputs, the same SK and AD, and the envelope opens: a relay could replay
// Alice's initial message up to seven more times under base keys the replay log did not know.
// EK_A must be a point of the prime-order subgroup (BAD_KEY otherwise).
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { withTorsion } from '../scripts/protocol-vectors.js';
import type { PreKeyBundle } from '../src/bundle.js';
import { assertCanonicalX25519, assertPrimeOrderX25519, generateX25519 } from '../src/dh.js';
import { acceptSession, decryptMessage, encryptMessage, initiateSession } from '../src/session.js';
import { ACC, content, enc, makeParties, opts, replayLog } from './fixtures.js';

describe('EK_A outside the prime-order subgroup (spec §5.2)', () => {
  it('attack: a replay under EK_A + T (no one-time prekey, the last-resort PQ prekey) is refused, not a new session', async () => {
    const p = makeParties('torsion');
    // No one-time X25519 prekey: exactly the case the replay log exists for (§6.3).
    const bundle: PreKeyBundle = {
      identityKey: p.bundle.identityKey,
      signedPreKey: p.bundle.signedPreKey,
      pqPreKey: p.bundle.pqPreKey,
    };
    const keys = { ...p.bobKeys, oneTimePreKey: undefined };
    const alice = initiateSession(p.alice, bundle, ACC, opts('t1')).session;
    const m = (await encryptMessage(alice, 'text', content(enc('pay mallory 100')), opts('t1'))).message;
    const log = replayLog();
    const first = await acceptSession(keys, m, log, opts('t2'));
    log.seen.add(first.replayRecord.baseKeyHex);

    const ek = m.slice(35, 67);
    for (const t of [1, 2, 3, 4, 5, 6, 7]) {
      const altered = withTorsion(ek, t);
      expect(altered).not.toEqual(ek);
      expect(() => assertCanonicalX25519(altered)).not.toThrow();
      const replay = m.slice();
      replay.set(altered, 35);
      await expect(decryptMessage(first.session, replay, opts('t3'))).rejects.toMatchObject({
        code: 'SESSION_MISMATCH',
      });
      // The caller then runs §6.2, which must not accept Alice's message a second time.
      await expect(acceptSession(keys, replay, log, opts('t4'))).rejects.toMatchObject({ code: 'BAD_KEY' });
    }
  });

  it('every honest key is in the subgroup; every torsion variant of one is not (property)', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 32, maxLength: 32 }),
        fc.integer({ min: 1, max: 7 }),
        (seed, t) => {
          const { publicKey } = generateX25519(() => seed);
          expect(() => assertPrimeOrderX25519(publicKey)).not.toThrow();
          expect(() => assertPrimeOrderX25519(withTorsion(publicKey, t))).toThrow(
            expect.objectContaining({ code: 'BAD_KEY' }),
          );
        },
      ),
      { numRuns: 50 },
    );
  });
});
