// Regression tests for the findings that made protocol version 2 (spec/protocol.md §15),
// each written as the attack: F1 forged first message from a leaked signed-prekey secret,
// F2 replayed initial message, F3 AES-GCM nonce reuse under a rolled-back state, F4 a bundle
// republished under another account (unknown key share), F5 exact lengths and relay-chosen
// order/time. Each test first shows the attack's premise holds (so the test can fail), then
// that version 2 refuses it with the state unchanged.
import { gcm } from '@noble/ciphers/aes.js';
import { ed25519, x25519 } from '@noble/curves/ed25519.js';
import { hkdf } from '@noble/hashes/hkdf.js';
import { hmac } from '@noble/hashes/hmac.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { ml_kem768 } from '@noble/post-quantum/ml-kem.js';
import { describe, expect, it } from 'vitest';
import type { PreKeyBundle } from '../src/bundle.js';
import { generateSignedPreKey, type SignedPreKey } from '../src/prekeys.js';
import {
  acceptSession,
  decryptMessage,
  encryptMessage,
  initiateSession,
  parseInitialMessage,
  type ResponderKeys,
  type SessionState,
} from '../src/session.js';
import { serializeSession } from '../src/session-codec.js';
import { ACC, CTX, content, enc, makeParties, opts, replayLog } from './fixtures.js';

const P = makeParties('findings');
const ascii = (s: string) => new TextEncoder().encode(s);
const cat = (...p: Uint8Array[]) => Uint8Array.from(p.flatMap((x) => [...x]));
const u32 = (n: number) => Uint8Array.of(n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255);
const u16 = (n: number) => Uint8Array.of(n >> 8, n & 255);
const xor = (a: Uint8Array, b: Uint8Array) => a.map((x, i) => x ^ (b[i] as number));

/**
 * The F1 attacker: holds Bob's signed-prekey secret (a profile copy, a backup, one run of
 * hostile code) and only PUBLIC values otherwise. DH1 = DH(IK_A, SPK_B) needs either
 * secret, so the attacker computes every input of SK (spec §5.2) and writes a complete
 * version 2 initial message "from" Alice.
 */
function forgeFirstMessage(
  leaked: SignedPreKey,
  bundle: PreKeyBundle,
  victimIdentity: Uint8Array,
  accounts: { initiator: string; responder: string },
  text: string,
): Uint8Array {
  const ek = x25519.utils.randomSecretKey();
  const ekPub = x25519.getPublicKey(ek);
  const dh1 = x25519.getSharedSecret(leaked.secretKey, ed25519.utils.toMontgomery(victimIdentity));
  const dh2 = x25519.getSharedSecret(ek, ed25519.utils.toMontgomery(bundle.identityKey));
  const dh3 = x25519.getSharedSecret(ek, leaked.publicKey);
  const { cipherText, sharedSecret } = ml_kem768.encapsulate(bundle.pqPreKey.publicKey);
  const sk = hkdf(
    sha256,
    cat(new Uint8Array(32).fill(0xff), dh1, dh2, dh3, sharedSecret),
    new Uint8Array(32),
    ascii('SecureDrop_PQXDH_X25519_SHA-256_ML-KEM-768_v2'),
    32,
  );
  const names = [accounts.initiator, accounts.responder].map(ascii) as [Uint8Array, Uint8Array];
  const ad = cat(
    victimIdentity,
    bundle.identityKey,
    sha256(cat(ascii('SecureDrop_PQXDH_KEM_binding_v2'), bundle.pqPreKey.publicKey, cipherText)),
    sha256(
      cat(ascii('SecureDrop_Accounts_v2'), u16(names[0].length), names[0], u16(names[1].length), names[1]),
    ),
  );
  const ratchet = x25519.utils.randomSecretKey();
  const okm = hkdf(
    sha256,
    x25519.getSharedSecret(ratchet, leaked.publicKey),
    sk,
    ascii('SecureDrop_Ratchet_v2'),
    64,
  );
  const mk = hmac(sha256, okm.slice(32), Uint8Array.of(1));
  const initialHeader = cat(
    Uint8Array.of(2, 1, 1),
    victimIdentity,
    ekPub,
    u32(leaked.id),
    Uint8Array.of(bundle.pqPreKey.kind === 'one-time' ? 2 : 1),
    u32(bundle.pqPreKey.id),
    Uint8Array.of(0),
    cipherText,
  );
  const nonce = crypto.getRandomValues(new Uint8Array(12));
  const header = cat(Uint8Array.of(2, 2, 1, 1), x25519.getPublicKey(ratchet), u32(0), u32(0), nonce);
  const body = ascii(text);
  const frame = new Uint8Array(160);
  frame.set(cat(new Uint8Array(8), u32(0), u32(1), body, Uint8Array.of(0x80)));
  const key = hkdf(sha256, mk, new Uint8Array(32), ascii('SecureDrop_MessageKey_v2'), 32);
  return cat(initialHeader, header, gcm(key, nonce, cat(ad, header)).encrypt(frame));
}

/** Bob's prekey store: the caller looks the named keys up by id (spec §6.2). */
function bobStore(signedPreKeys: SignedPreKey[]) {
  return (message: Uint8Array): ResponderKeys => {
    const h = parseInitialMessage(message);
    const spk = signedPreKeys.find((k) => k.id === h.signedPreKeyId);
    // A deleted key cannot be supplied; the current one stands in, and must not fit.
    return {
      ...P.bobKeys,
      oneTimePreKey: undefined,
      signedPreKey: spk ?? (signedPreKeys.at(-1) as SignedPreKey),
    };
  };
}

async function converse(a: SessionState, b: SessionState, steps: number, label: string) {
  for (let i = 0; i < steps; i++) {
    const toA = await encryptMessage(b, 'text', content(enc(`b${i}`)), opts(`${label} b${i}`));
    b = toA.session;
    a = (await decryptMessage(a, toA.message, opts(`${label} a${i}`))).session;
    const toB = await encryptMessage(a, 'text', content(enc(`a${i}`)), opts(`${label} A${i}`));
    a = toB.session;
    b = (await decryptMessage(b, toB.message, opts(`${label} B${i}`))).session;
  }
  return { a, b };
}

describe('F1: a leaked signed-prekey secret forges a first message from a verified contact', () => {
  const { oneTimePreKey: _, ...bundle } = P.bundle; // the one-time X25519 stock is empty

  it('while the leaked prekey is held the forgery is accepted as Alice (the premise)', async () => {
    const forged = forgeFirstMessage(P.spk, bundle, P.alice.publicKey, ACC, 'transfer the money');
    const r = await acceptSession(bobStore([P.spk])(forged), forged, CTX, opts('f1a'));
    expect(new TextDecoder().decode(r.body)).toBe('transfer the money');
    expect(r.session.remoteIdentityKey).toEqual(P.alice.publicKey);
  });

  it('after rotation and deletion of the old prekey (spec §4.6) the forgery is UNKNOWN_PREKEY', async () => {
    const rotated = generateSignedPreKey(P.bob, P.spk.id + 1);
    // During the grace period the old key is still held: forgeries still work (bounded window).
    const during = bobStore([P.spk, rotated]);
    const inGrace = forgeFirstMessage(P.spk, bundle, P.alice.publicKey, ACC, 'x');
    await expect(acceptSession(during(inGrace), inGrace, CTX)).resolves.toBeDefined();
    // Grace over: the old secret is deleted. A forgery naming it cannot be accepted...
    const after = bobStore([rotated]);
    const forged = forgeFirstMessage(P.spk, bundle, P.alice.publicKey, ACC, 'transfer the money');
    await expect(acceptSession(after(forged), forged, CTX)).rejects.toMatchObject({ code: 'UNKNOWN_PREKEY' });
    // ...and the leaked secret does not fit the new prekey either.
    const renamed = forged.slice();
    renamed.set(u32(rotated.id), 67);
    await expect(acceptSession(after(renamed), renamed, CTX)).rejects.toMatchObject({ code: 'AUTH_FAILED' });
    // A genuine first message from Alice to the rotated bundle is accepted.
    const fresh = { ...bundle, signedPreKey: rotated };
    const real = await encryptMessage(
      initiateSession(P.alice, fresh, ACC).session,
      'text',
      content(enc('hi')),
    );
    expect((await acceptSession(after(real.message), real.message, CTX)).body).toEqual(enc('hi'));
  });
});

describe('F2: an initial message replayed after the session moved on', () => {
  for (const steps of [1, 6, 50]) {
    it(`after ${steps} DH ratchet steps it is DUPLICATE_MESSAGE, state unchanged`, async () => {
      const log = replayLog();
      let a = initiateSession(P.alice, P.bundle, ACC, opts(`f2 ${steps}`)).session;
      const first = await encryptMessage(a, 'text', content(enc('first')), opts(`f2 ${steps} m`));
      a = first.session;
      const accepted = await acceptSession(P.bobKeys, first.message, log, opts(`f2 ${steps} b`));
      log.seen.add(accepted.replayRecord.baseKeyHex);
      const moved = await converse(a, accepted.session, steps, `f2 ${steps}`);
      const before = serializeSession(moved.b);
      // Into the live session: recognised by its header, never a new handshake or AUTH_FAILED.
      await expect(decryptMessage(moved.b, first.message)).rejects.toMatchObject({
        code: 'DUPLICATE_MESSAGE',
      });
      expect(serializeSession(moved.b)).toEqual(before);
      // Into acceptSession (a caller trying "start a new session"): refused by the replay log.
      await expect(acceptSession(P.bobKeys, first.message, log)).rejects.toMatchObject({
        code: 'DUPLICATE_MESSAGE',
      });
      // The premise: the signed prekey is still held, so without the log the replay would
      // start a second session and show "first" again.
      await expect(acceptSession({ ...P.bobKeys }, first.message, CTX)).resolves.toMatchObject({
        body: enc('first'),
      });
    });
  }

  it('after the session was dropped, the durable replay log refuses it before any other work', async () => {
    const log = replayLog();
    const a = initiateSession(P.alice, P.bundle, ACC, opts('f2 dropped')).session;
    const first = await encryptMessage(a, 'text', content(enc('first')), opts('f2 dropped m'));
    const r = await acceptSession(P.bobKeys, first.message, log);
    log.seen.add(r.replayRecord.baseKeyHex); // written with the session, in one transaction
    // Session dropped (e.g. an error the app recovered from); prekeys all still held.
    let asked = 0;
    const counting = {
      ...log,
      isKnownBaseKey: (k: Uint8Array) => {
        asked++;
        return log.isKnownBaseKey(k);
      },
    };
    // Even with wrong prekeys the answer is DUPLICATE_MESSAGE: the log is consulted first.
    await expect(
      acceptSession({ ...P.bobKeys, oneTimePreKey: undefined }, first.message, counting),
    ).rejects.toMatchObject({ code: 'DUPLICATE_MESSAGE' });
    expect(asked).toBe(1);
  });
});

describe('F3: two messages sealed from one restored (rolled-back) state', () => {
  it('never share a nonce, so c1 XOR c2 is not p1 XOR p2', async () => {
    let a = initiateSession(P.alice, P.bundle, ACC, opts('f3')).session;
    const b = await acceptSession(
      P.bobKeys,
      (await encryptMessage(a, 'text', content(enc('0')))).message,
      CTX,
    );
    const reply = await encryptMessage(b.session, 'text', content(enc('r')));
    a = (await decryptMessage(a, reply.message)).session;
    const saved = serializeSession(a); // the snapshot a crash, backup or second tab restores
    const p1 = content(enc('meet at the north gate at 9'), 5);
    const p2 = content(enc('the password is hunter2!!!!'), 5);
    const m1 = await encryptMessage(a, 'text', p1); // default (system) randomness
    const m2 = await encryptMessage(a, 'text', p2); // same state again: same chain position
    expect(serializeSession(m1.session)).toEqual(serializeSession(m2.session));
    expect(serializeSession(a)).toEqual(saved);
    // Same N, same message key — the rollback premise — but different header nonces.
    expect(m1.message.slice(36, 44)).toEqual(m2.message.slice(36, 44));
    const nonce1 = m1.message.slice(44, 56);
    const nonce2 = m2.message.slice(44, 56);
    expect(nonce1).not.toEqual(nonce2);
    // The XOR attack: under one (key, nonce), c1 XOR c2 = p1 XOR p2 (both frames pad to 160).
    const c1 = m1.message.slice(56, 56 + 160);
    const c2 = m2.message.slice(56, 56 + 160);
    const frame = (c: typeof p1) => {
      const f = new Uint8Array(160); // spec §9.1
      const view = new DataView(f.buffer);
      view.setBigUint64(0, BigInt(c.sentAt));
      view.setBigUint64(8, BigInt(c.order));
      f.set(c.body, 16);
      f[16 + c.body.length] = 0x80;
      return f;
    };
    expect(xor(c1, c2)).not.toEqual(xor(frame(p1), frame(p2)));
    // What version 1 did — nonce derived from mk — falls to it: shown on the same frames.
    const mk = hmac(sha256, new Uint8Array(32).fill(7), Uint8Array.of(1));
    const v1 = hkdf(sha256, mk, new Uint8Array(32), ascii('SecureDrop_MessageKeys_v1'), 44);
    const seal = (f: Uint8Array) =>
      gcm(v1.slice(0, 32), v1.slice(32), new Uint8Array(0)).encrypt(f).slice(0, 160);
    expect(xor(seal(frame(p1)), seal(frame(p2)))).toEqual(xor(frame(p1), frame(p2)));
  });

  it('nonces stay distinct over many sends from the same restored state', async () => {
    const a = initiateSession(P.alice, P.bundle, ACC, opts('f3b')).session;
    const seen = new Set<string>();
    for (let i = 0; i < 64; i++) {
      const m = await encryptMessage(a, 'text', content(enc(`try ${i}`)));
      seen.add(Buffer.from(m.message.subarray(1169 + 44, 1169 + 56)).toString('hex'));
    }
    expect(seen.size).toBe(64);
  });
});

describe('F4: a bundle republished under another username', () => {
  it("'mallory' serving Bob's bundle: the handshake fails on Bob's side (AUTH_FAILED)", async () => {
    // Alice fetched "mallory"'s bundle, which is Bob's, and believes she talks to mallory.
    const alice = initiateSession(
      P.alice,
      P.bundle,
      { initiator: 'alice', responder: 'mallory' },
      opts('f4'),
    );
    const m = await encryptMessage(alice.session, 'text', content(enc('hi mallory')), opts('f4 m'));
    // Mallory forwards it to Bob, as from herself or (a malicious relay) as from alice.
    for (const bobBelieves of [
      { initiator: 'mallory', responder: 'bob' },
      { initiator: 'alice', responder: 'bob' },
    ])
      await expect(
        acceptSession(P.bobKeys, m.message, { ...bobBelieves, isKnownBaseKey: () => false }),
      ).rejects.toMatchObject({ code: 'AUTH_FAILED' });
    // The premise: the same bytes open when both sides name the same accounts.
    const r = await acceptSession(P.bobKeys, m.message, {
      initiator: 'alice',
      responder: 'mallory',
      isKnownBaseKey: () => false,
    });
    expect(r.body).toEqual(enc('hi mallory'));
    // Names are compared in canonical form (§11.1): case does not matter, the account does.
    const canonical = initiateSession(
      P.alice,
      P.bundle,
      { initiator: 'Alice', responder: 'BOB' },
      opts('f4c'),
    );
    const mc = await encryptMessage(canonical.session, 'text', content(enc('x')), opts('f4c'));
    expect((await acceptSession(P.bobKeys, mc.message, CTX)).body).toEqual(enc('x'));
  });
});

describe('F5: lengths, time and order the relay could learn or choose', () => {
  it('texts of 1 and 143 bytes have equal lengths (one 160-byte frame); 150 and 300 share the next', async () => {
    const a = initiateSession(P.alice, P.bundle, ACC, opts('f5')).session;
    const len = async (n: number) =>
      (await encryptMessage(a, 'text', content(new Uint8Array(n).fill(0x61)))).message.length;
    expect(await len(1)).toBe(await len(143));
    expect(await len(0)).toBe(await len(1));
    expect(await len(144)).toBeGreaterThan(await len(143)); // 16 + 144 + 1 > 160
    expect(await len(150)).toBe(await len(300));
    expect((await len(1)) - 1169 - 56 - 16).toBe(160);
    expect((await len(150)) - 1169 - 56 - 16).toBe(320);
  });

  it('sentAt and order round-trip; a flipped bit in them fails authentication; relay order does not matter', async () => {
    let a = initiateSession(P.alice, P.bundle, ACC, opts('f5b')).session;
    const m1 = await encryptMessage(a, 'text', content(enc('one'), 1, 1_767_225_600_000), opts('f5b 1'));
    a = m1.session;
    const m2 = await encryptMessage(a, 'text', content(enc('two'), 2, 1_767_225_601_000), opts('f5b 2'));
    // Relay delivers in the other order: the receiver still learns the sender's order and time.
    const b2 = await acceptSession(P.bobKeys, m2.message, CTX, opts('f5b r'));
    expect([b2.order, b2.sentAt]).toEqual([2, 1_767_225_601_000]);
    const b1 = await decryptMessage(b2.session, m1.message, opts('f5b r1'));
    expect([b1.order, b1.sentAt, new TextDecoder().decode(b1.body)]).toEqual([1, 1_767_225_600_000, 'one']);
    // A relay flipping a bit of sentAt (ciphertext byte 7) or order (byte 15) is caught by the tag.
    const at = m1.message.length - 160 - 16;
    const before = serializeSession(b2.session);
    for (const offset of [7, 15]) {
      const t = m1.message.slice();
      t[at + offset] = (t[at + offset] as number) ^ 0x01;
      await expect(decryptMessage(b2.session, t, opts('f5b t'))).rejects.toMatchObject({
        code: 'AUTH_FAILED',
      });
    }
    expect(serializeSession(b2.session)).toEqual(before);
  });
});
