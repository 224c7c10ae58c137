import { generateIdentity } from '@secure-drop/crypto-core/identity';
import { describe, expect, it } from 'vitest';
import {
  compareScannedDuringChange,
  compareScannedText,
  SAFETY_QR_PREFIX,
  safetyNumberOf,
} from './safety.ts';

describe('safety numbers', () => {
  const alice = generateIdentity();
  const bob = generateIdentity();
  const mallory = generateIdentity();
  const aliceView = { me: 'alice', mine: alice.publicKey, contact: 'bob', theirs: bob.publicKey };
  const bobView = { me: 'bob', mine: bob.publicKey, contact: 'alice', theirs: alice.publicKey };

  it('shows the same 60 digits on both sides, in 12 groups of 5', () => {
    const a = safetyNumberOf(aliceView);
    const b = safetyNumberOf(bobView);
    expect(a.digits).toMatch(/^\d{60}$/);
    expect(a.digits).toBe(b.digits);
    expect(a.groups).toHaveLength(12);
    expect(a.groups.join('')).toBe(a.digits);
    expect(a.qrText.startsWith(SAFETY_QR_PREFIX)).toBe(true);
  });

  it("matches the contact's QR and refuses one made with another key", () => {
    expect(compareScannedText(aliceView, safetyNumberOf(bobView).qrText)).toBe('match');
    // Mallory in the middle: Bob's device sees Mallory's key instead of Alice's.
    const mitm = safetyNumberOf({
      me: 'bob',
      mine: bob.publicKey,
      contact: 'alice',
      theirs: mallory.publicKey,
    });
    expect(compareScannedText(aliceView, mitm.qrText)).toBe('mismatch');
    // Our own QR is not the contact's.
    expect(compareScannedText(aliceView, safetyNumberOf(aliceView).qrText)).toBe('mismatch');
  });

  it('calls anything else invalid', () => {
    expect(compareScannedText(aliceView, 'https://example.com')).toBe('invalid');
    expect(compareScannedText(aliceView, `${SAFETY_QR_PREFIX}not base64!`)).toBe('invalid');
    expect(compareScannedText(aliceView, `${SAFETY_QR_PREFIX}AAAA`)).toBe('invalid');
  });

  // Finding "key change compares the old key": the relay announced its own key (Mallory's) as
  // Alice's new one; Bob scanned the real Alice's QR and saw "match" for the key he was about
  // to replace. During a change the comparison is against the PENDING key.
  describe('during an unacknowledged key change', () => {
    const change = {
      me: 'bob',
      mine: bob.publicKey,
      contact: 'alice',
      trusted: alice.publicKey,
      pending: mallory.publicKey,
    };
    const realAlice = safetyNumberOf({
      me: 'alice',
      mine: alice.publicKey,
      contact: 'bob',
      theirs: bob.publicKey,
    });

    it('regression (key change compares the old key): the real contact’s QR is "old-key", never a match', () => {
      expect(compareScannedDuringChange(change, realAlice.qrText)).toBe('old-key');
    });

    it('matches a QR made with the pending key (the contact really has the new key)', () => {
      const newAlice = safetyNumberOf({
        me: 'alice',
        mine: mallory.publicKey,
        contact: 'bob',
        theirs: bob.publicKey,
      });
      expect(compareScannedDuringChange(change, newAlice.qrText)).toBe('match');
    });

    it('calls any other key a mismatch and anything else invalid', () => {
      const carol = generateIdentity();
      const other = safetyNumberOf({
        me: 'alice',
        mine: carol.publicKey,
        contact: 'bob',
        theirs: bob.publicKey,
      });
      expect(compareScannedDuringChange(change, other.qrText)).toBe('mismatch');
      expect(compareScannedDuringChange(change, 'hello')).toBe('invalid');
    });
  });
});
