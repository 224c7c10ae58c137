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
import {
  generateOneTimePqPreKeys,
  generatePqPreKey,
  generateSignedPreKey,
  MAX_ONE_TIME_PQ_PREKEY_BATCH,
  verifyPqPreKey,
} from '../src/prekeys.js';
import {
  acceptSession,
  decryptMessage,
  encryptMessage,
  initiateSession,
  messageKind,
  parseInitialMessage,
  replayRecordOf,
} from '../src/session.js';
import { MAX_BODY_BYTES, MAX_PLAINTEXT_BYTES, MAX_WIRE_MESSAGE_BYTES } from '../src/session-limits.js';
import { ACC, CTX, content, enc, makeParties, opts } from './fixtures.js';

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
    v[0] = 1; // a version 1 bundle
    expect(() => decodeBundle(v)).toThrow(code('UNSUPPORTED_VERSION'));
    const f = bytes.slice();
    f[1386] = 2;
    expect(() => decodeBundle(f)).toThrow(code('BAD_FORMAT'));
    for (const kind of [0, 3, 0xff]) {
      const k = bytes.slice();
      k[133] = kind;
      expect(() => decodeBundle(k), `PQ kind ${kind}`).toThrow(code('BAD_FORMAT'));
    }
  });

  it('verifyBundle rejects a flipped bit in any signed field or signature', () => {
    const bytes = encodeBundle(P.bundle);
    // offsets: SPK id 33, SPK 37, SPK sig 69, PQ kind 133, PQ id 134, PQ key 138, PQ sig 1322
    for (const at of [33, 40, 70, 132, 133, 137, 500, 1321, 1330, 1385]) {
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

  it('a one-time PQ prekey cannot pass for the last-resort one, nor the reverse (own contexts, §4.3)', () => {
    const [oneTime] = generateOneTimePqPreKeys(P.bob, 7, 1);
    if (oneTime === undefined) throw new Error('unreachable');
    expect(oneTime.kind).toBe('one-time');
    const asOneTime = { ...P.bundle, pqPreKey: oneTime };
    expect(() => verifyBundle(asOneTime)).not.toThrow();
    expect(decodeBundle(encodeBundle(asOneTime)).pqPreKey.kind).toBe('one-time');
    expect(() => verifyBundle({ ...P.bundle, pqPreKey: { ...oneTime, kind: 'last-resort' } })).toThrow(
      code('BAD_SIGNATURE'),
    );
    expect(() => verifyBundle({ ...P.bundle, pqPreKey: { ...P.bundle.pqPreKey, kind: 'one-time' } })).toThrow(
      code('BAD_SIGNATURE'),
    );
    // Flipping the kind byte on the wire is refused the same way.
    const wire = encodeBundle(asOneTime);
    wire[133] = 0x01;
    expect(() => verifyBundle(decodeBundle(wire))).toThrow(code('BAD_SIGNATURE'));
  });

  it('one-time PQ prekeys: ids in order, a bounded batch, each signed', () => {
    const batch = generateOneTimePqPreKeys(P.bob, 40, 3);
    expect(batch.map((k) => k.id)).toEqual([40, 41, 42]);
    for (const k of batch) expect(() => verifyPqPreKey(P.bob.publicKey, k)).not.toThrow();
    expect(() => generateOneTimePqPreKeys(P.bob, 1, MAX_ONE_TIME_PQ_PREKEY_BATCH + 1)).toThrow(
      code('BAD_LENGTH'),
    );
    expect(() => generateOneTimePqPreKeys(P.bob, 1, 0)).toThrow(code('BAD_LENGTH'));
    expect(() => generateOneTimePqPreKeys(P.bob, 0xffffffff, 2)).toThrow(code('BAD_LENGTH'));
  });
});

describe('handshake (spec §5–§6)', () => {
  it('initiator and responder agree; the responder reports the used one-time prekey and its replay record', async () => {
    const init = initiateSession(P.alice, P.bundle, ACC, opts('hs1'));
    const m = await encryptMessage(init.session, 'text', content(enc('hello'), 3, 42), opts('hs1a'));
    expect(messageKind(m.message)).toBe('initial');
    const h = parseInitialMessage(m.message);
    expect(h).toMatchObject({
      signedPreKeyId: 1,
      pqPreKeyKind: 'last-resort',
      pqPreKeyId: 2,
      oneTimePreKeyId: 100,
    });
    const r = await acceptSession(P.bobKeys, m.message, CTX, opts('hs1b'));
    expect(new TextDecoder().decode(r.body)).toBe('hello');
    expect([r.sentAt, r.order]).toEqual([42, 3]);
    expect(r.usedOneTimePreKeyId).toBe(100);
    expect(r.usedOneTimePqPreKeyId).toBeUndefined();
    expect(r.replayRecord).toEqual(replayRecordOf(h));
    expect(r.replayRecord).toMatchObject({ signedPreKeyId: 1, pqPreKeyKind: 'last-resort', pqPreKeyId: 2 });
    expect(r.replayRecord.baseKeyHex).toBe(Buffer.from(h.baseKey).toString('hex'));
    expect(r.session.associatedData).toEqual(init.session.associatedData);
    const back = await encryptMessage(r.session, 'text', content(enc('hi')), opts('hs1c'));
    expect(messageKind(back.message)).toBe('ratchet');
    const got = await decryptMessage(m.session, back.message, opts('hs1d'));
    expect(got.session.pendingInitialHeader).toBeNull();
    const next = await encryptMessage(got.session, 'text', content(enc('again')), opts('hs1e'));
    expect(messageKind(next.message)).toBe('ratchet');
  });

  it('works without a one-time prekey (DH4 omitted)', async () => {
    const { oneTimePreKey: _, ...bundle } = P.bundle;
    const init = initiateSession(P.alice, bundle, ACC, opts('hs2'));
    const m = await encryptMessage(init.session, 'text', content(enc('x')), opts('hs2'));
    expect(parseInitialMessage(m.message).oneTimePreKeyId).toBeUndefined();
    const r = await acceptSession({ ...P.bobKeys, oneTimePreKey: undefined }, m.message, CTX, opts('hs2'));
    expect(r.body).toEqual(enc('x'));
    expect(r.replayRecord.oneTimePreKeyId).toBeUndefined();
  });

  it('a one-time ML-KEM prekey is named by (kind, id) and reported for deletion (PQXDH §3.4)', async () => {
    const [pqOnce] = generateOneTimePqPreKeys(P.bob, 2, 1); // same id as the last-resort key, other kind
    if (pqOnce === undefined) throw new Error('unreachable');
    const init = initiateSession(P.alice, { ...P.bundle, pqPreKey: pqOnce }, ACC, opts('hs2b'));
    const m = await encryptMessage(init.session, 'text', content(enc('pq')), opts('hs2b'));
    expect(parseInitialMessage(m.message)).toMatchObject({ pqPreKeyKind: 'one-time', pqPreKeyId: 2 });
    // The last-resort key with the same id is not the one named.
    await expect(acceptSession(P.bobKeys, m.message, CTX)).rejects.toMatchObject({ code: 'UNKNOWN_PREKEY' });
    const r = await acceptSession({ ...P.bobKeys, pqPreKey: pqOnce }, m.message, CTX, opts('hs2c'));
    expect(r.body).toEqual(enc('pq'));
    expect(r.usedOneTimePqPreKeyId).toBe(2);
    expect(r.usedOneTimePreKeyId).toBe(100);
    expect(r.replayRecord).toMatchObject({ pqPreKeyKind: 'one-time', pqPreKeyId: 2, oneTimePreKeyId: 100 });
    // Once deleted, a repeat (with an empty replay log) cannot be accepted again.
    await expect(acceptSession({ ...P.bobKeys, pqPreKey: P.pq }, m.message, CTX)).rejects.toMatchObject({
      code: 'UNKNOWN_PREKEY',
    });
  });

  it('version 1 wire messages are UNSUPPORTED_VERSION (spec §3)', async () => {
    const m = await encryptMessage(
      initiateSession(P.alice, P.bundle, ACC, opts('hs2d')).session,
      'text',
      content(enc('x')),
    );
    const v1 = m.message.slice();
    v1[0] = 0x01;
    expect(() => messageKind(v1)).toThrow(code('UNSUPPORTED_VERSION'));
    await expect(acceptSession(P.bobKeys, v1, CTX)).rejects.toMatchObject({ code: 'UNSUPPORTED_VERSION' });
  });

  it('refuses a bundle with a bad signature, a low-order prekey, or oneself', () => {
    const badSig = { ...P.bundle, pqPreKey: { ...P.bundle.pqPreKey, signature: new Uint8Array(64) } };
    expect(() => initiateSession(P.alice, badSig, ACC)).toThrow(code('BAD_SIGNATURE'));
    const lowOrder = { ...P.bundle, oneTimePreKey: { id: 1, publicKey: new Uint8Array(32) } };
    expect(() => initiateSession(P.alice, lowOrder, ACC)).toThrow(code('BAD_KEY'));
    expect(() => initiateSession(P.bob, P.bundle, ACC)).toThrow(code('BAD_KEY'));
  });

  it('a correctly signed but invalid ML-KEM key (FIPS 203 §7.2 modulus check) is BAD_KEY', () => {
    const bad = new Uint8Array(1184).fill(0xff); // coefficients ≥ q
    const signed = new Uint8Array([...enc('SecureDrop_SignedPreKey_ML-KEM-768_v2'), 0, 0, 0, 9, ...bad]);
    const bundle = {
      ...P.bundle,
      pqPreKey: {
        kind: 'last-resort' as const,
        id: 9,
        publicKey: bad,
        signature: signWithIdentity(P.bob, signed),
      },
    };
    expect(() => verifyBundle(bundle)).not.toThrow();
    expect(() => initiateSession(P.alice, bundle, ACC)).toThrow(code('BAD_KEY'));
  });

  it('a message without the KEM (suite 0x00) is DOWNGRADE; unknown suites UNSUPPORTED_VERSION', async () => {
    const m = await encryptMessage(
      initiateSession(P.alice, P.bundle, ACC, opts('hs3')).session,
      'text',
      content(enc('x')),
    );
    const down = m.message.slice();
    down[2] = 0x00;
    await expect(acceptSession(P.bobKeys, down, CTX)).rejects.toMatchObject({ code: 'DOWNGRADE' });
    const other = m.message.slice();
    other[2] = 0x07;
    await expect(acceptSession(P.bobKeys, other, CTX)).rejects.toMatchObject({ code: 'UNSUPPORTED_VERSION' });
    // A short message that stops where a classic X3DH header would is no bypass either.
    await expect(acceptSession(P.bobKeys, m.message.slice(0, 80), CTX)).rejects.toMatchObject({
      code: 'BAD_FORMAT',
    });
  });

  it('wrong or missing prekeys are UNKNOWN_PREKEY; a reflected initial message is refused', async () => {
    const m = await encryptMessage(
      initiateSession(P.alice, P.bundle, ACC, opts('hs4')).session,
      'text',
      content(enc('x')),
    );
    await expect(
      acceptSession({ ...P.bobKeys, oneTimePreKey: undefined }, m.message, CTX),
    ).rejects.toMatchObject({
      code: 'UNKNOWN_PREKEY',
    });
    await expect(
      acceptSession({ ...P.bobKeys, oneTimePreKey: P.opks[1] }, m.message, CTX),
    ).rejects.toMatchObject({
      code: 'UNKNOWN_PREKEY',
    });
    await expect(acceptSession({ ...P.bobKeys, identity: P.alice }, m.message, CTX)).rejects.toMatchObject({
      code: 'REFLECTED_MESSAGE',
    });
  });

  it('a repeated initial message with altered handshake fields is rejected by the existing session', async () => {
    let a = initiateSession(P.alice, P.bundle, ACC, opts('hs5')).session;
    const m0 = await encryptMessage(a, 'text', content(enc('0')), opts('hs5'));
    a = m0.session;
    const m1 = await encryptMessage(a, 'text', content(enc('1')), opts('hs5'));
    const b = await acceptSession(P.bobKeys, m0.message, CTX, opts('hs5b'));
    // Flip one bit of the KEM ciphertext inside the repeat: the envelope alone would verify.
    const t = m1.message.slice();
    t[200] = (t[200] as number) ^ 1;
    await expect(decryptMessage(b.session, t)).rejects.toMatchObject({ code: 'AUTH_FAILED' });
    expect((await decryptMessage(b.session, m1.message)).body).toEqual(enc('1'));
    // An initial message of another session (new base key) is SESSION_MISMATCH.
    const other = await encryptMessage(
      initiateSession(P.alice, P.bundle, ACC, opts('hs5c')).session,
      'text',
      content(enc('n')),
    );
    await expect(decryptMessage(b.session, other.message)).rejects.toMatchObject({
      code: 'SESSION_MISMATCH',
    });
    // The initiator handed its own initial message: reflection.
    await expect(decryptMessage(a, m0.message)).rejects.toMatchObject({ code: 'REFLECTED_MESSAGE' });
  });

  it('a ratchet key that is low-order or non-canonical is BAD_KEY, with the state unchanged', async () => {
    const a = initiateSession(P.alice, P.bundle, ACC, opts('hs7')).session;
    const m = await encryptMessage(a, 'text', content(enc('x')), opts('hs7'));
    const b = await acceptSession(P.bobKeys, m.message, CTX, opts('hs7b'));
    const reply = await encryptMessage(b.session, 'text', content(enc('y')), opts('hs7c'));
    const before = JSON.stringify(a, (_, v) => (v instanceof Uint8Array ? Array.from(v) : v));
    const p = new Uint8Array(32).fill(0xff);
    p[0] = 0xed;
    p[31] = 0x7f; // u = 2^255 − 19 = p itself
    for (const key of [new Uint8Array(32), Uint8Array.of(1, ...new Uint8Array(31)), p]) {
      const forged = reply.message.slice();
      forged.set(key, 4); // the ratchet key field of the §8 header
      await expect(decryptMessage(a, forged)).rejects.toMatchObject({ code: 'BAD_KEY' });
    }
    expect(JSON.stringify(a, (_, v) => (v instanceof Uint8Array ? Array.from(v) : v))).toBe(before);
  });

  it('the largest body gives exactly MAX_WIRE_MESSAGE_BYTES and decrypts; one byte more is BAD_LENGTH', async () => {
    const a = initiateSession(P.alice, P.bundle, ACC, opts('hs8')).session;
    const big = new Uint8Array(MAX_BODY_BYTES).fill(0x61);
    const m = await encryptMessage(a, 'text', content(big), opts('hs8'));
    expect(m.message.length).toBe(MAX_WIRE_MESSAGE_BYTES);
    expect(MAX_WIRE_MESSAGE_BYTES).toBe(62_681);
    expect((await acceptSession(P.bobKeys, m.message, CTX, opts('hs8b'))).body).toEqual(big);
    await expect(
      encryptMessage(a, 'text', content(new Uint8Array(MAX_BODY_BYTES + 1))),
    ).rejects.toMatchObject({
      code: 'BAD_LENGTH',
    });
    expect(MAX_BODY_BYTES + 17).toBe(MAX_PLAINTEXT_BYTES);
  });

  it('EK_A with the top bit set (same X25519 point mod masking) is refused, not silently accepted', async () => {
    const m = await encryptMessage(
      initiateSession(P.alice, P.bundle, ACC, opts('hs6')).session,
      'text',
      content(enc('x')),
    );
    const t = m.message.slice();
    t[3 + 32 + 31] = (t[3 + 32 + 31] as number) ^ 0x80;
    await expect(acceptSession(P.bobKeys, t, CTX)).rejects.toMatchObject({ code: 'BAD_KEY' });
  });
});
