// Findings of an adversarial review against spec/protocol.md (each test names the attack).
import { describe, expect, it } from 'vitest';
import {
  acceptSession,
  decryptMessage,
  encryptMessage,
  initiateSession,
  type SessionState,
} from '../src/session.js';
import { MAX_PREVIOUS_CHAINS, MAX_SKIPPED_KEY_AGE_MS } from '../src/session-limits.js';
import { nobleX25519, type X25519Backend } from '../src/x25519-backend.js';
import { ACC, CTX, content, enc, makeParties, opts } from './fixtures.js';

describe('a repeated initial message is DUPLICATE_MESSAGE however far the session moved (spec §6.3)', () => {
  it('attack: the relay holds back an initial message until its skipped key expired and its chain was forgotten', async () => {
    const p = makeParties('h3 expired repeat');
    let now = 1_000_000;
    const clock = () => now;
    let a: SessionState = initiateSession(p.alice, p.bundle, ACC, opts('h1')).session;
    const m: Uint8Array[] = [];
    for (let i = 0; i < 2; i++) {
      const out = await encryptMessage(a, 'text', content(enc(`m${i}`), i + 1), opts(`h1${i}`, clock));
      a = out.session;
      m.push(out.message);
    }
    // The relay holds m0 back and delivers m1: Bob stores m0's key as skipped.
    let b = (await acceptSession(p.bobKeys, m[1] as Uint8Array, CTX, opts('h2', clock))).session;
    expect(b.skippedKeys).toHaveLength(1);
    // Enough round trips that Alice's first chain leaves Bob's finished chains.
    for (let i = 0; i <= MAX_PREVIOUS_CHAINS + 1; i++) {
      const r = await encryptMessage(b, 'text', content(enc(`r${i}`), i + 1), opts(`h3${i}`, clock));
      a = (await decryptMessage(a, r.message, opts(`h4${i}`, clock))).session;
      const s = await encryptMessage(a, 'text', content(enc(`s${i}`), i + 3), opts(`h5${i}`, clock));
      b = (await decryptMessage(r.session, s.message, opts(`h6${i}`, clock))).session;
    }
    expect(b.skippedKeys).toHaveLength(1); // m0's key, not used yet
    // The session goes quiet past the age bound; then the relay delivers m0.
    now += MAX_SKIPPED_KEY_AGE_MS + 24 * 3600 * 1000;
    await expect(decryptMessage(b, m[0] as Uint8Array, opts('h7', clock))).rejects.toMatchObject({
      code: 'DUPLICATE_MESSAGE',
    });
  });
});

describe('DH outputs of the ratchet are wiped after use (spec §7.5: secrets are not kept)', () => {
  it('every X25519 output a DH ratchet step computes is all zeros once the decryption returns', async () => {
    const p = makeParties('h3 wipe');
    const outputs: Uint8Array[] = [];
    // A backend that hands out its results and remembers them: what the ratchet leaves in them
    // is what stays in memory until the garbage collector runs.
    const spy: X25519Backend = {
      name: 'noble',
      publicKey: (sk) => nobleX25519.publicKey(sk),
      sharedSecret: async (sk, pk) => {
        const out = await nobleX25519.sharedSecret(sk, pk);
        outputs.push(out);
        return out;
      },
    };
    const a = initiateSession(p.alice, p.bundle, ACC, opts('w1')).session;
    const m = await encryptMessage(a, 'text', content(enc('hi')), opts('w2'));
    const b = await acceptSession(p.bobKeys, m.message, CTX, { ...opts('w3'), x25519: spy });
    const r = await encryptMessage(b.session, 'text', content(enc('re')), opts('w4'));
    await decryptMessage(m.session, r.message, { ...opts('w5'), x25519: spy });
    expect(outputs.length).toBeGreaterThanOrEqual(4); // two DH ratchet steps, two DHs each
    for (const out of outputs) expect(out.every((x) => x === 0)).toBe(true);
  });
});
