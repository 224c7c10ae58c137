// The bundle encoding (spec §4.5), the handshake (§5) and the initial message (§6).
import { describe, expect, it } from 'vitest';
import {
  BUNDLE_BYTES_WITH_OPK,
  BUNDLE_BYTES_WITHOUT_OPK,
  decodeBundle,
  encodeBundle,
  verifyBundle,
} from '../src/bundle.js';
import { signWithIdentity } from '../src/identity.js';
import { generatePqPreKey, generateSignedPreKey } from '../src/prekeys.js';
import {
  acceptSession,
  decryptMessage,
  encryptMessage,
  initiateSession,
  messageKind,
  parseInitialMessage,
} from '../src/session.js';
import { MAX_PLAINTEXT_BYTES, MAX_WIRE_MESSAGE_BYTES } from '../src/session-limits.js';
import { enc, makeParties, opts } from './fixtures.js';

const P = makeParties('handshake');
const code = (c: string) => expect.objectContaining({ code: c });

describe('bundle (spec §4.5)', () => {
  it('round-trips byte-exactly with and without a one-time prekey', () => {
    const bytes = encodeBundle(P.bundle);
    expect(bytes.length).toBe(BUNDLE_BYTES_WITH_OPK);
    expect(decodeBundle(bytes)).toEqual(P.bundle);
    const { oneTimePreKey: _, ...noOpk } = P.bundle;
    const b2 = encodeBundle(noOpk);
    expect(b2.length).toBe(BUNDLE_BYTES_WITHOUT_OPK);
    expect(decodeBundle(b2)).toEqual(noOpk);
  });

  it('rejects every truncation, trailing bytes, a bad version and a bad flag', () => {
    const bytes = encodeBundle(P.bundle);
    for (let n = 0; n < bytes.length; n += 37)
      expect(() => decodeBundle(bytes.slice(0, n))).toThrow(code('BAD_FORMAT'));
    expect(() => decodeBundle(Uint8Array.of(...bytes, 0))).toThrow(code('BAD_FORMAT'));
    const v = bytes.slice();
    v[0] = 2;
    expect(() => decodeBundle(v)).toThrow(code('UNSUPPORTED_VERSION'));
    const f = bytes.slice();
    f[1385] = 2;
    expect(() => decodeBundle(f)).toThrow(code('BAD_FORMAT'));
  });

  it('verifyBundle rejects a flipped bit in any signed field or signature', () => {
    const bytes = encodeBundle(P.bundle);
    // offsets: SPK id 33, SPK 37, SPK sig 69, PQ id 133, PQ key 137, PQ sig 1321
    for (const at of [33, 40, 70, 132, 136, 500, 1320, 1330]) {
      const t = bytes.slice();
      t[at] = (t[at] as number) ^ 0x04;
      expect(() => verifyBundle(decodeBundle(t)), `offset ${at}`).toThrow(
        expect.objectContaining({ name: 'CryptoCoreError' }),
      );
    }
    expect(() => verifyBundle(P.bundle)).not.toThrow();
  });

  it('a prekey signature cannot be moved to another id or key type', () => {
    const spk = generateSignedPreKey(P.bob, 5);
    const pq = generatePqPreKey(P.bob, 5);
    const moved = { ...P.bundle, signedPreKey: { ...P.bundle.signedPreKey, id: 6 } };
    expect(() => verifyBundle(moved)).toThrow(code('BAD_SIGNATURE'));
    const crossed = {
      ...P.bundle,
      signedPreKey: { id: 5, publicKey: spk.publicKey, signature: pq.signature },
    };
    expect(() => verifyBundle(crossed)).toThrow(code('BAD_SIGNATURE'));
  });
});

describe('handshake (spec §5–§6)', () => {
  it('initiator and responder agree; the used one-time prekey id is reported on both sides', async () => {
    const init = initiateSession(P.alice, P.bundle, opts('hs1'));
    expect(init.usedOneTimePreKeyId).toBe(100);
    const m = await encryptMessage(init.session, 'text', enc('hello'), opts('hs1a'));
    expect(messageKind(m.message)).toBe('initial');
    const h = parseInitialMessage(m.message);
    expect(h).toMatchObject({ signedPreKeyId: 1, pqPreKeyId: 2, oneTimePreKeyId: 100 });
    const r = await acceptSession(P.bobKeys, m.message, opts('hs1b'));
    expect(new TextDecoder().decode(r.plaintext)).toBe('hello');
    expect(r.usedOneTimePreKeyId).toBe(100);
    expect(r.session.associatedData).toEqual(init.session.associatedData);
    const back = await encryptMessage(r.session, 'text', enc('hi'), opts('hs1c'));
    expect(messageKind(back.message)).toBe('ratchet');
    const got = await decryptMessage(m.session, back.message, opts('hs1d'));
    expect(got.session.pendingInitialHeader).toBeNull();
    const next = await encryptMessage(got.session, 'text', enc('again'), opts('hs1e'));
    expect(messageKind(next.message)).toBe('ratchet');
  });

  it('works without a one-time prekey (DH4 omitted)', async () => {
    const { oneTimePreKey: _, ...bundle } = P.bundle;
    const init = initiateSession(P.alice, bundle, opts('hs2'));
    expect(init.usedOneTimePreKeyId).toBeUndefined();
    const m = await encryptMessage(init.session, 'text', enc('x'), opts('hs2'));
    expect(parseInitialMessage(m.message).oneTimePreKeyId).toBeUndefined();
    const r = await acceptSession({ ...P.bobKeys, oneTimePreKey: undefined }, m.message, opts('hs2'));
    expect(r.plaintext).toEqual(enc('x'));
  });

  it('refuses a bundle with a bad signature, a low-order prekey, or oneself', () => {
    const badSig = { ...P.bundle, pqPreKey: { ...P.bundle.pqPreKey, signature: new Uint8Array(64) } };
    expect(() => initiateSession(P.alice, badSig)).toThrow(code('BAD_SIGNATURE'));
    const lowOrder = { ...P.bundle, oneTimePreKey: { id: 1, publicKey: new Uint8Array(32) } };
    expect(() => initiateSession(P.alice, lowOrder)).toThrow(code('BAD_KEY'));
    expect(() => initiateSession(P.bob, P.bundle)).toThrow(code('BAD_KEY'));
  });

  it('a correctly signed but invalid ML-KEM key (FIPS 203 §7.2 modulus check) is BAD_KEY', () => {
    const bad = new Uint8Array(1184).fill(0xff); // coefficients ≥ q
    const signed = new Uint8Array([...enc('SecureDrop_SignedPreKey_ML-KEM-768_v1'), 0, 0, 0, 9, ...bad]);
    const bundle = {
      ...P.bundle,
      pqPreKey: { id: 9, publicKey: bad, signature: signWithIdentity(P.bob, signed) },
    };
    expect(() => verifyBundle(bundle)).not.toThrow();
    expect(() => initiateSession(P.alice, bundle)).toThrow(code('BAD_KEY'));
  });

  it('a message without the KEM (suite 0x00) is DOWNGRADE; unknown suites UNSUPPORTED_VERSION', async () => {
    const m = await encryptMessage(initiateSession(P.alice, P.bundle, opts('hs3')).session, 'text', enc('x'));
    const down = m.message.slice();
    down[2] = 0x00;
    await expect(acceptSession(P.bobKeys, down)).rejects.toMatchObject({ code: 'DOWNGRADE' });
    const other = m.message.slice();
    other[2] = 0x07;
    await expect(acceptSession(P.bobKeys, other)).rejects.toMatchObject({ code: 'UNSUPPORTED_VERSION' });
    // A short message that stops where a classic X3DH header would is no bypass either.
    await expect(acceptSession(P.bobKeys, m.message.slice(0, 80))).rejects.toMatchObject({
      code: 'BAD_FORMAT',
    });
  });

  it('wrong or missing prekeys are UNKNOWN_PREKEY; a reflected initial message is refused', async () => {
    const m = await encryptMessage(initiateSession(P.alice, P.bundle, opts('hs4')).session, 'text', enc('x'));
    await expect(acceptSession({ ...P.bobKeys, oneTimePreKey: undefined }, m.message)).rejects.toMatchObject({
      code: 'UNKNOWN_PREKEY',
    });
    await expect(acceptSession({ ...P.bobKeys, oneTimePreKey: P.opks[1] }, m.message)).rejects.toMatchObject({
      code: 'UNKNOWN_PREKEY',
    });
    await expect(acceptSession({ ...P.bobKeys, identity: P.alice }, m.message)).rejects.toMatchObject({
      code: 'REFLECTED_MESSAGE',
    });
  });

  it('a repeated initial message with altered handshake fields is rejected by the existing session', async () => {
    let a = initiateSession(P.alice, P.bundle, opts('hs5')).session;
    const m0 = await encryptMessage(a, 'text', enc('0'), opts('hs5'));
    a = m0.session;
    const m1 = await encryptMessage(a, 'text', enc('1'), opts('hs5'));
    const b = await acceptSession(P.bobKeys, m0.message, opts('hs5b'));
    // Flip one bit of the KEM ciphertext inside the repeat: the envelope alone would verify.
    const t = m1.message.slice();
    t[200] = (t[200] as number) ^ 1;
    await expect(decryptMessage(b.session, t)).rejects.toMatchObject({ code: 'AUTH_FAILED' });
    expect((await decryptMessage(b.session, m1.message)).plaintext).toEqual(enc('1'));
    // An initial message of another session (new base key) is SESSION_MISMATCH.
    const other = await encryptMessage(
      initiateSession(P.alice, P.bundle, opts('hs5c')).session,
      'text',
      enc('n'),
    );
    await expect(decryptMessage(b.session, other.message)).rejects.toMatchObject({
      code: 'SESSION_MISMATCH',
    });
    // The initiator handed its own initial message: reflection.
    await expect(decryptMessage(a, m0.message)).rejects.toMatchObject({ code: 'REFLECTED_MESSAGE' });
  });

  it('a ratchet key that is low-order or non-canonical is BAD_KEY, with the state unchanged', async () => {
    const a = initiateSession(P.alice, P.bundle, opts('hs7')).session;
    const m = await encryptMessage(a, 'text', enc('x'), opts('hs7'));
    const b = await acceptSession(P.bobKeys, m.message, opts('hs7b'));
    const reply = await encryptMessage(b.session, 'text', enc('y'), opts('hs7c'));
    const before = JSON.stringify(a, (_, v) => (v instanceof Uint8Array ? Array.from(v) : v));
    const p = new Uint8Array(32).fill(0xff);
    p[0] = 0xed;
    p[31] = 0x7f; // u = 2^255 − 19 = p itself
    for (const key of [new Uint8Array(32), Uint8Array.of(1, ...new Uint8Array(31)), p]) {
      const forged = reply.message.slice();
      forged.set(key, 4);
      await expect(decryptMessage(a, forged)).rejects.toMatchObject({ code: 'BAD_KEY' });
    }
    expect(JSON.stringify(a, (_, v) => (v instanceof Uint8Array ? Array.from(v) : v))).toBe(before);
  });

  it('the largest plaintext gives exactly MAX_WIRE_MESSAGE_BYTES and decrypts; one byte more is BAD_LENGTH', async () => {
    const a = initiateSession(P.alice, P.bundle, opts('hs8')).session;
    const big = new Uint8Array(MAX_PLAINTEXT_BYTES).fill(0x61);
    const m = await encryptMessage(a, 'text', big, opts('hs8'));
    expect(m.message.length).toBe(MAX_WIRE_MESSAGE_BYTES);
    expect((await acceptSession(P.bobKeys, m.message, opts('hs8b'))).plaintext).toEqual(big);
    await expect(encryptMessage(a, 'text', new Uint8Array(MAX_PLAINTEXT_BYTES + 1))).rejects.toMatchObject({
      code: 'BAD_LENGTH',
    });
  });

  it('EK_A with the top bit set (same X25519 point mod masking) is refused, not silently accepted', async () => {
    const m = await encryptMessage(initiateSession(P.alice, P.bundle, opts('hs6')).session, 'text', enc('x'));
    const t = m.message.slice();
    t[3 + 32 + 31] = (t[3 + 32 + 31] as number) ^ 0x80;
    await expect(acceptSession(P.bobKeys, t)).rejects.toMatchObject({ code: 'BAD_KEY' });
  });
});
